"""Reader and writer of HumanML3D / KIT-ML dataset folders.

Layout (HumanML3D repository README; KIT-ML is identical with 251 dims and 21 joints):

    root/new_joint_vecs/<id>.npy   (T, 263) float32 features   (KIT: (T, 251))
    root/new_joints/<id>.npy       (T, 22, 3) float32 joints    (KIT: (T, 21, 3))
    root/texts/<id>.txt            lines "caption#word/POS word/POS ...#start#end"
                                   (start = end = 0.0: the caption covers the whole clip)
    root/{train,val,test,all}.txt  one id per line
    root/Mean.npy, root/Std.npy    (263,) feature statistics

    >>> data = open_dataset("HumanML3D")
    >>> for motion_id in data.ids("train"): feats = data.features(motion_id)
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from engine.errors import InputError

SPLITS = ("train", "val", "test", "all")
# Feature width -> joint count: HumanML3D (SMPL-22) and KIT-ML (21 MMM joints).
LAYOUTS: dict[str, tuple[int, int]] = {"humanml3d": (263, 22), "kit": (251, 21)}


@dataclass(frozen=True)
class TextAnnotation:
    """One caption of a clip; start/end in seconds, both 0.0 when it covers the whole clip."""

    caption: str
    tokens: tuple[str, ...]
    start: float = 0.0
    end: float = 0.0

    @property
    def whole_clip(self) -> bool:
        return self.start == 0.0 and self.end == 0.0


def parse_text_line(line: str, source: str = "<text>", line_number: int = 0) -> TextAnnotation:
    """`caption#tokens#start#end` -> TextAnnotation (split from the right: captions may hold '#')."""
    parts = line.rstrip("\n").rsplit("#", 3)
    where = f"{source} line {line_number}" if line_number else source
    if len(parts) != 4:
        raise InputError(f"{where}: expected 'caption#word/POS ...#start#end', found {line.strip()!r}.")
    caption, tokens, start, end = parts
    try:
        # HumanML3D writes NaN where a clip has no sub-range; it means the whole clip.
        times = [0.0 if math.isnan(float(t)) else float(t) for t in (start, end)]
    except ValueError:
        raise InputError(f"{where}: start/end {start!r}, {end!r} are not numbers.") from None
    bad = [t for t in tokens.split() if "/" not in t]
    if bad:
        raise InputError(f"{where}: tokens must be word/POS pairs; found {bad[:3]}.")
    return TextAnnotation(caption.strip(), tuple(tokens.split()), times[0], times[1])


def format_text_line(annotation: TextAnnotation) -> str:
    """TextAnnotation -> `caption#tokens#start#end` (no newline)."""
    if "\n" in annotation.caption:
        raise InputError(f"caption {annotation.caption!r} holds a newline; one caption per line.")
    return f"{annotation.caption}#{' '.join(annotation.tokens)}#{annotation.start:.1f}#{annotation.end:.1f}"


class HumanML3DFolder:
    """Read access to a HumanML3D or KIT-ML folder; nothing is loaded until asked for."""

    def __init__(self, root: str | Path, kind: str | None = None) -> None:
        self.root = Path(root)
        if not self.root.is_dir():
            raise InputError(f"{self.root}: dataset folder not found.")
        if not (self.root / "new_joint_vecs").is_dir() and not (self.root / "new_joints").is_dir():
            raise InputError(
                f"{self.root}: not a HumanML3D/KIT-ML folder: it has neither new_joint_vecs/ "
                "nor new_joints/ (see the HumanML3D README for the layout)."
            )
        self.kind = kind or self._detect_kind()
        if self.kind not in LAYOUTS:
            raise InputError(f"dataset kind '{self.kind}' is not one of {', '.join(LAYOUTS)}.")
        self.feature_dim, self.num_joints = LAYOUTS[self.kind]

    def _detect_kind(self) -> str:
        sample = (
            next(iter(sorted((self.root / "new_joint_vecs").glob("*.npy"))), None)
            if (self.root / "new_joint_vecs").is_dir()
            else None
        )
        if sample is not None:
            width = np.load(sample, mmap_mode="r", allow_pickle=False).shape[-1]
            for kind, (dim, _) in LAYOUTS.items():
                if width == dim:
                    return kind
            raise InputError(f"{sample}: features have {width} dims; expected 263 (HumanML3D) or 251 (KIT-ML).")
        return "kit" if "kit" in self.root.name.lower() else "humanml3d"

    def _file(self, folder: str, motion_id: str, suffix: str) -> Path:
        path = self.root / folder / f"{motion_id}{suffix}"
        if not path.is_file():
            raise InputError(f"{path}: missing; motion '{motion_id}' has no {folder}/ entry in {self.root}.")
        return path

    def ids(self, split: str = "all") -> list[str]:
        """Motion ids listed in `<split>.txt`, in file order, blank lines skipped."""
        path = self.root / f"{split}.txt"
        if not path.is_file():
            present = [s for s in SPLITS if (self.root / f"{s}.txt").is_file()]
            raise InputError(f"{path}: split file missing (present: {', '.join(present) or 'none'}).")
        return [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]

    def features(self, motion_id: str) -> np.ndarray:
        """`(T, 263)` (KIT: `(T, 251)`) float32 features of one motion."""
        path = self._file("new_joint_vecs", motion_id, ".npy")
        array = np.load(path, allow_pickle=False)
        if array.ndim != 2 or array.shape[1] != self.feature_dim or not len(array):
            raise InputError(f"{path}: features have shape {array.shape}; expected (T, {self.feature_dim}).")
        return array.astype(np.float32, copy=False)

    def joints(self, motion_id: str) -> np.ndarray:
        """`(T, 22, 3)` (KIT: `(T, 21, 3)`) float32 joint positions, metres (KIT: millimetres)."""
        path = self._file("new_joints", motion_id, ".npy")
        array = np.load(path, allow_pickle=False)
        if array.ndim != 3 or array.shape[1:] != (self.num_joints, 3) or not len(array):
            raise InputError(f"{path}: joints have shape {array.shape}; expected (T, {self.num_joints}, 3).")
        return array.astype(np.float32, copy=False)

    def texts(self, motion_id: str) -> list[TextAnnotation]:
        """All captions of one motion."""
        path = self._file("texts", motion_id, ".txt")
        lines = path.read_text(encoding="utf-8").splitlines()
        return [parse_text_line(line, str(path), n + 1) for n, line in enumerate(lines) if line.strip()]

    def mean_std(self) -> tuple[np.ndarray, np.ndarray]:
        """Feature mean and std, `(D,)` float32 each."""
        out = []
        for name in ("Mean.npy", "Std.npy"):
            path = self.root / name
            if not path.is_file():
                raise InputError(
                    f"{path}: missing; compute it over the training features or copy it from the dataset release."
                )
            array = np.load(path, allow_pickle=False)
            if array.shape != (self.feature_dim,):
                raise InputError(f"{path}: shape {array.shape}, expected ({self.feature_dim},).")
            out.append(array.astype(np.float32))
        return out[0], out[1]


def open_dataset(root: str | Path, kind: str | None = None) -> HumanML3DFolder:
    """Open a HumanML3D (263 dims) or KIT-ML (251 dims) folder; kind is detected when omitted."""
    return HumanML3DFolder(root, kind)


# ---- writing -------------------------------------------------------------------------------
def write_motion(
    root: str | Path,
    motion_id: str,
    features: np.ndarray | None = None,
    joints: np.ndarray | None = None,
    texts: Iterable[TextAnnotation] | None = None,
) -> None:
    """Write one motion's files (any of features, joints, captions) under `root`."""
    root = Path(root)
    if "/" in motion_id or "\\" in motion_id or not motion_id.strip():
        raise InputError(f"motion id {motion_id!r} must be a plain file name.")
    if features is not None:
        features = np.asarray(features, dtype=np.float32)
        if features.ndim != 2 or features.shape[1] not in (263, 251):
            raise InputError(f"features for '{motion_id}' have shape {features.shape}; expected (T, 263) or (T, 251).")
        (root / "new_joint_vecs").mkdir(parents=True, exist_ok=True)
        np.save(root / "new_joint_vecs" / f"{motion_id}.npy", features)
    if joints is not None:
        joints = np.asarray(joints, dtype=np.float32)
        if joints.ndim != 3 or joints.shape[1:] not in ((22, 3), (21, 3)):
            raise InputError(f"joints for '{motion_id}' have shape {joints.shape}; expected (T, 22, 3) or (T, 21, 3).")
        (root / "new_joints").mkdir(parents=True, exist_ok=True)
        np.save(root / "new_joints" / f"{motion_id}.npy", joints)
    if texts is not None:
        (root / "texts").mkdir(parents=True, exist_ok=True)
        lines = [format_text_line(t) for t in texts]
        (root / "texts" / f"{motion_id}.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")


def write_split(root: str | Path, split: str, ids: Sequence[str]) -> None:
    """Write `<split>.txt` with one id per line."""
    Path(root).mkdir(parents=True, exist_ok=True)
    (Path(root) / f"{split}.txt").write_text("".join(f"{i}\n" for i in ids), encoding="utf-8")


def write_mean_std(root: str | Path, mean: np.ndarray, std: np.ndarray) -> None:
    """Write Mean.npy and Std.npy, `(D,)` float32."""
    Path(root).mkdir(parents=True, exist_ok=True)
    np.save(Path(root) / "Mean.npy", np.asarray(mean, dtype=np.float32))
    np.save(Path(root) / "Std.npy", np.asarray(std, dtype=np.float32))
