"""BVH (Biovision hierarchy) reading, forward kinematics, writing and frame-rate resampling.

Conventions of the format as read here:
- each joint's CHANNELS may hold any subset of X/Y/Zposition and X/Y/Zrotation, in any order;
- rotation channels are intrinsic Euler angles in degrees, applied in the order listed
  ("Zrotation Xrotation Yrotation" -> R = Rz Rx Ry), converted with scipy's Rotation ("ZXY");
- position channels replace the matching component of the joint's OFFSET (the Bandai-Namco files
  give all 22 joints 6 channels, whose positions equal their offsets);
- End Site offsets are kept but have no channels.

    >>> clip = read_bvh("walk.bvh")                  # BvhClip
    >>> clip.global_positions().shape                # (T, J, 3), file units (often cm)
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy.spatial.transform import Rotation

from engine.errors import InputError
from engine.formats.resample import resample_positions, resample_quaternions

POSITION_CHANNELS = ("Xposition", "Yposition", "Zposition")
ROTATION_CHANNELS = ("Xrotation", "Yrotation", "Zrotation")
VALID_CHANNELS = POSITION_CHANNELS + ROTATION_CHANNELS


@dataclass
class BvhClip:
    """A parsed BVH file.

    names `(J,)`; parents `(J,)` int, -1 for the root, parents precede children; offsets `(J, 3)`
    float64 in file units; channels per joint; values `(T, C)` float64, C = total channel count;
    end_sites maps a joint index to its End Site offset `(3,)`.
    """

    names: tuple[str, ...]
    parents: np.ndarray
    offsets: np.ndarray
    channels: tuple[tuple[str, ...], ...]
    frame_time: float
    values: np.ndarray
    end_sites: dict[int, np.ndarray] = field(default_factory=dict)
    source: str = "<bvh>"

    @property
    def fps(self) -> float:
        return 1.0 / self.frame_time

    @property
    def num_frames(self) -> int:
        return int(self.values.shape[0])

    def _columns(self) -> list[np.ndarray]:
        starts = np.cumsum([0] + [len(c) for c in self.channels])
        return [self.values[:, starts[j] : starts[j + 1]] for j in range(len(self.names))]

    def local_rotations(self) -> Rotation:
        """Local joint rotations as one scipy Rotation of shape `(T * J,)`, frame-major."""
        T, J = self.num_frames, len(self.names)
        quats = np.zeros((T, J, 4))
        quats[..., 3] = 1.0  # scipy's (x, y, z, w): identity for joints without rotation channels
        for j, (chans, cols) in enumerate(zip(self.channels, self._columns())):
            rot = [i for i, c in enumerate(chans) if c in ROTATION_CHANNELS]
            if rot:
                order = "".join(chans[i][0] for i in rot)  # upper case = intrinsic in scipy
                quats[:, j] = Rotation.from_euler(order, cols[:, rot], degrees=True).as_quat()
        return Rotation.from_quat(quats.reshape(-1, 4))

    def local_quaternions(self) -> np.ndarray:
        """Local joint rotations `(T, J, 4)` float64, (w, x, y, z)."""
        xyzw = self.local_rotations().as_quat().reshape(self.num_frames, len(self.names), 4)
        return np.concatenate([xyzw[..., 3:], xyzw[..., :3]], axis=-1)

    def local_translations(self) -> np.ndarray:
        """Per-frame joint translations `(T, J, 3)`: offsets with position channels substituted."""
        out = np.broadcast_to(self.offsets, (self.num_frames,) + self.offsets.shape).copy()
        for j, (chans, cols) in enumerate(zip(self.channels, self._columns())):
            for i, c in enumerate(chans):
                if c in POSITION_CHANNELS:
                    out[:, j, POSITION_CHANNELS.index(c)] = cols[:, i]
        return out

    def global_positions(self, fps: float | None = None) -> np.ndarray:
        """Forward kinematics: joint positions `(T, J, 3)` float64 in file units.

        With `fps`, the clip is first resampled in joint space (local rotations by slerp, local
        translations linearly), so bones keep their lengths, unlike interpolated positions.
        """
        quats, trans = self.local_quaternions(), self.local_translations()
        if fps is not None and abs(fps - self.fps) > 1e-6:
            quats = resample_quaternions(quats, self.fps, fps)
            trans = resample_positions(trans, self.fps, fps)
        return forward_kinematics(self.parents, quats, trans)


def forward_kinematics(parents: np.ndarray, local_quats: np.ndarray, translations: np.ndarray) -> np.ndarray:
    """Positions `(T, J, 3)` from local quats `(T, J, 4)` (w, x, y, z) and per-frame local
    translations `(T, J, 3)` (the root's is its position). Hand-written rather than E's
    engine.motion.kinematics because BVH translations vary per frame (position channels)."""
    T, J = local_quats.shape[:2]
    local = Rotation.from_quat(local_quats.reshape(-1, 4)[:, [1, 2, 3, 0]]).as_matrix().reshape(T, J, 3, 3)
    rot = np.empty_like(local)
    pos = np.empty_like(translations, dtype=np.float64)
    for j, p in enumerate(parents):
        if p < 0:
            rot[:, j], pos[:, j] = local[:, j], translations[:, j]
        else:
            rot[:, j] = rot[:, p] @ local[:, j]
            pos[:, j] = pos[:, p] + np.einsum("tab,tb->ta", rot[:, p], translations[:, j])
    return pos


class _Tokens:
    """Whitespace tokens of the HIERARCHY part with their 1-based line numbers."""

    def __init__(self, lines: list[str], source: str) -> None:
        self.items = [(tok, n + 1) for n, line in enumerate(lines) for tok in line.split()]
        self.pos, self.source = 0, source

    def error(self, message: str, line: int | None = None) -> InputError:
        where = f" line {line}" if line else ""
        return InputError(f"{self.source}{where}: {message}. Check that the file is a complete BVH file.")

    def next(self, what: str = "more") -> tuple[str, int]:
        """The next token; `what` describes it for the error when the file ends."""
        if self.pos >= len(self.items):
            last = self.items[-1][1] if self.items else 1
            raise self.error(f"file ends inside the HIERARCHY (expected {what})", last)
        self.pos += 1
        return self.items[self.pos - 1]

    def expect(self, literal: str) -> int:
        tok, line = self.next(f"'{literal}'")
        if tok != literal:
            raise self.error(f"expected '{literal}' but found '{tok}'", line)
        return line

    def floats(self, count: int, what: str) -> np.ndarray:
        values = []
        for _ in range(count):
            tok, line = self.next(what)
            try:
                values.append(float(tok))
            except ValueError:
                raise self.error(f"{what} value '{tok}' is not a number", line) from None
        out = np.array(values)
        if not np.all(np.isfinite(out)):
            raise self.error(f"{what} holds NaN or infinity", line)
        return out


def _parse_hierarchy(tokens: _Tokens) -> tuple[list, list, list, list, dict]:
    names: list[str] = []
    parents: list[int] = []
    offsets: list[np.ndarray] = []
    channels: list[tuple[str, ...]] = []
    end_sites: dict[int, np.ndarray] = {}
    tokens.expect("HIERARCHY")
    kind, line = tokens.next()
    if kind != "ROOT":
        raise tokens.error(f"expected ROOT after HIERARCHY but found '{kind}'", line)
    stack: list[int] = []  # open joints; -2 marks an open End Site
    parent = -1
    while True:
        if kind in ("ROOT", "JOINT"):
            name, line = tokens.next("a joint name")
            tokens.expect("{")
            tokens.expect("OFFSET")
            names.append(name)
            parents.append(parent)
            offsets.append(tokens.floats(3, f"OFFSET of joint '{name}'"))
            tok, line = tokens.next("CHANNELS")
            if tok != "CHANNELS":
                raise tokens.error(f"joint '{name}' has no CHANNELS line (found '{tok}')", line)
            count_tok, line = tokens.next("channel count")
            if not count_tok.isdigit():
                raise tokens.error(f"channel count '{count_tok}' of joint '{name}' is not a number", line)
            chans = tuple(tokens.next("a channel name")[0] for _ in range(int(count_tok)))
            bad = [c for c in chans if c not in VALID_CHANNELS]
            if bad or len(set(chans)) != len(chans):
                raise tokens.error(
                    f"joint '{name}' has invalid or repeated channels {list(chans)} "
                    f"(allowed: {', '.join(VALID_CHANNELS)})",
                    line,
                )
            channels.append(chans)
            parent = len(names) - 1
            stack.append(parent)
        elif kind == "End":
            tokens.expect("Site")
            tokens.expect("{")
            tokens.expect("OFFSET")
            end_sites[parent] = tokens.floats(3, "End Site OFFSET")
            tokens.expect("}")
        elif kind == "}":
            if not stack:
                raise tokens.error("unbalanced '}'", line)
            stack.pop()
            parent = stack[-1] if stack else -1
            if not stack:
                return names, parents, offsets, channels, end_sites
        else:
            raise tokens.error(f"unexpected '{kind}' in the HIERARCHY", line)
        kind, line = tokens.next("JOINT, End Site or '}'")


def _parse_motion(lines: list[str], start: int, num_channels: int, source: str) -> tuple[float, np.ndarray]:
    def fail(message: str, line: int) -> InputError:
        return InputError(f"{source} line {line}: {message}.")

    header = [(n, lines[n].strip()) for n in range(start, len(lines)) if lines[n].strip()][:3]
    if (
        len(header) < 3
        or header[0][1] != "MOTION"
        or not header[1][1].startswith("Frames:")
        or not header[2][1].startswith("Frame Time:")
    ):
        raise fail(
            "expected 'MOTION', 'Frames: N' and 'Frame Time: dt' after the HIERARCHY",
            (header[0][0] if header else start) + 1,
        )
    try:
        num_frames = int(header[1][1].split(":", 1)[1])
        frame_time = float(header[2][1].split(":", 1)[1])
    except ValueError:
        raise fail("could not read the frame count or frame time", header[1][0] + 1) from None
    if num_frames <= 0:
        raise fail(f"the file has {num_frames} frames; a motion needs at least one", header[1][0] + 1)
    if not (math.isfinite(frame_time) and frame_time > 0):
        raise fail(f"Frame Time {frame_time} must be a positive number of seconds", header[2][0] + 1)
    rows = [(n, lines[n]) for n in range(header[2][0] + 1, len(lines)) if lines[n].strip()]
    if len(rows) != num_frames:
        raise fail(f"the header says {num_frames} frames but {len(rows)} frame lines follow", header[1][0] + 1)
    values = np.empty((num_frames, num_channels))
    for t, (n, text) in enumerate(rows):
        parts = text.split()
        if len(parts) != num_channels:
            raise fail(f"frame {t} has {len(parts)} values but the HIERARCHY declares {num_channels} channels", n + 1)
        try:
            values[t] = [float(p) for p in parts]
        except ValueError:
            raise fail(f"frame {t} holds a value that is not a number", n + 1) from None
    bad = np.argwhere(~np.isfinite(values))
    if len(bad):
        raise fail(f"frame {bad[0][0]} holds NaN or infinity", rows[bad[0][0]][0] + 1)
    return frame_time, values


def parse_bvh(text: str, source: str = "<bvh>") -> BvhClip:
    """Parse BVH text; `source` names the file in error messages."""
    lines = text.splitlines()
    motion_line = next((n for n, line in enumerate(lines) if line.strip() == "MOTION"), None)
    if motion_line is None:
        raise InputError(f"{source}: no MOTION section found; a BVH file needs HIERARCHY and MOTION.")
    tokens = _Tokens(lines[:motion_line], source)
    names, parents, offsets, channels, end_sites = _parse_hierarchy(tokens)
    if tokens.pos != len(tokens.items):
        tok, line = tokens.items[tokens.pos]
        raise tokens.error(f"unexpected '{tok}' after the root joint closed", line)
    if len(set(names)) != len(names):
        raise InputError(f"{source}: joint names repeat; every JOINT needs a unique name.")
    num_channels = sum(len(c) for c in channels)
    if num_channels == 0:
        raise InputError(f"{source}: no joint has CHANNELS, so the motion cannot move.")
    frame_time, values = _parse_motion(lines, motion_line, num_channels, source)
    return BvhClip(
        tuple(names),
        np.array(parents, dtype=np.int64),
        np.array(offsets),
        tuple(channels),
        frame_time,
        values,
        end_sites,
        source,
    )


def read_bvh(path: str | Path) -> BvhClip:
    """Read a BVH file; malformed files raise InputError naming the file and line."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as error:
        raise InputError(f"{path}: cannot read the BVH file ({error.strerror}).") from None
    return parse_bvh(text, str(path))


END_SITE_SHARE = 0.6  # an End Site is at most this share of the skeleton's median bone length


def default_end_sites(parents, offsets: np.ndarray) -> dict[int, np.ndarray]:
    """End Site offsets `(3,)` for every leaf joint: along the leaf's own bone (its offset from the
    parent), as long as that bone but at most END_SITE_SHARE of the median bone length (SMPL-22 in
    metres: head ~8 cm, hands ~8 cm, toes ~8 cm). A leaf whose own bone has no length points up.

    Why: a zero End Site makes a zero-length leaf bone, and Blender's BVH importer reports
    "zero length node found" and gives it an arbitrary 0.1 (scene unit) tail.
    """
    parents = [int(p) for p in parents]
    offsets = np.asarray(offsets, dtype=np.float64)
    lengths = np.linalg.norm(offsets, axis=-1)
    bones = lengths[[j for j, p in enumerate(parents) if p >= 0 and lengths[j] > 1e-9]]
    most = END_SITE_SHARE * (float(np.median(bones)) if len(bones) else 1.0)
    sites = {}
    for j in range(len(parents)):
        if any(p == j for p in parents):
            continue
        own = lengths[j] if parents[j] >= 0 else 0.0
        direction = offsets[j] / own if own > 1e-9 else np.array([0.0, 1.0, 0.0])
        sites[j] = direction * (min(own, most) if own > 1e-9 else most)
    return sites


def write_bvh(
    path: str | Path,
    names: list[str] | tuple[str, ...],
    parents,
    offsets: np.ndarray,
    local_quats: np.ndarray,
    root_translation: np.ndarray,
    fps: float,
    order: str = "ZXY",
    end_sites: dict[int, np.ndarray] | None = None,
) -> None:
    """Write a BVH file: root with 6 channels (position + rotation), other joints rotation only.

    offsets `(J, 3)` (row 0 is written as the root's OFFSET), local_quats `(T, J, 4)` (w, x, y, z),
    root_translation `(T, 3)`, all in the same length unit; order: intrinsic Euler order such as
    "ZXY" for the rotation channels. Leaves get an End Site: the offset from end_sites, else
    `default_end_sites` (a real length along the leaf's own bone, so importers such as Blender's
    do not find zero-length bones).
    """
    parents = [int(p) for p in parents]
    order = order.upper()
    if sorted(order) != ["X", "Y", "Z"]:
        raise InputError(f"BVH channel order '{order}' must be a permutation of XYZ, e.g. ZXY.")
    T, J = local_quats.shape[:2]
    quats = np.asarray(local_quats, dtype=np.float64).reshape(-1, 4)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # gimbal lock warning: the angles still give the same rotation
        euler = Rotation.from_quat(quats[:, [1, 2, 3, 0]]).as_euler(order, degrees=True).reshape(T, J, 3)
    rot_channels = " ".join(f"{axis}rotation" for axis in order)
    children = {j: [c for c in range(J) if parents[c] == j] for j in range(J)}
    end_sites = {**default_end_sites(parents, offsets), **(end_sites or {})}
    out: list[str] = ["HIERARCHY"]

    def emit(j: int, depth: int) -> None:
        pad = "\t" * depth
        kind = "ROOT" if parents[j] < 0 else "JOINT"
        out.append(f"{pad}{kind} {names[j]}")
        out.append(f"{pad}{{")
        out.append(f"{pad}\tOFFSET {' '.join(f'{v:.6f}' for v in offsets[j])}")
        extra = "Xposition Yposition Zposition " if parents[j] < 0 else ""
        out.append(f"{pad}\tCHANNELS {6 if extra else 3} {extra}{rot_channels}")
        for c in children[j]:
            emit(c, depth + 1)
        if not children[j]:
            site = end_sites[j]
            out.extend(
                [
                    f"{pad}\tEnd Site",
                    f"{pad}\t{{",
                    f"{pad}\t\tOFFSET {' '.join(f'{v:.6f}' for v in site)}",
                    f"{pad}\t}}",
                ]
            )
        out.append(f"{pad}}}")

    roots = [j for j in range(J) if parents[j] < 0]
    if len(roots) != 1:
        raise InputError(f"writing {path}: a BVH skeleton needs exactly one root joint, got {len(roots)}.")
    emit(roots[0], 0)
    order_of_joints = [line.split()[1] for line in out if line.strip().startswith(("ROOT", "JOINT"))]
    index = {name: i for i, name in enumerate(names)}
    out += ["MOTION", f"Frames: {T}", f"Frame Time: {1.0 / fps:.8f}"]
    for t in range(T):
        row = [root_translation[t]] + [euler[t, index[n]] for n in order_of_joints]
        out.append(" ".join(f"{v:.6f}" for v in np.concatenate(row)))
    Path(path).write_text("\n".join(out) + "\n", encoding="utf-8")
