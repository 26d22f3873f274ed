"""What the evaluators read: captioned motions of a HumanML3D-layout split and PoseFix pose pairs.

Crops follow Guo et al.'s evaluation loader (text2motion `Text2MotionDatasetV2`): a motion longer
than `max_frames` (196) is cropped at a random start, and its length is rounded down to a multiple of
`unit` (4), one unit shorter with probability 1/3. These random crops are why the "Real" row's FID
is small but not zero.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from engine.errors import InputError
from engine.formats.humanml3d import open_dataset

MAX_FRAMES = 196  # HumanML3D max_motion_length
UNIT = 4


@dataclass
class CaptionedMotions:
    ids: list[str]
    features: list[np.ndarray]  # each (T, 263) float32, raw (not normalised)
    captions: list[list[str]]  # every caption of each motion


def clip_sources(data_dir: str | Path) -> dict[str, str]:
    """Clip id -> its source ("bandai", "procedural", "humanml3d", ...) from `meta.jsonl`."""
    path = Path(data_dir) / "meta.jsonl"
    if not path.is_file():
        raise InputError(f"{path} is missing: a source filter needs the meta.jsonl written by `motion-train data`")
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return {row["id"]: row.get("source", "") for row in rows}


def keep_source(data_dir: str | Path, ids: list[str], source: str | None) -> list[bool]:
    """Which of `ids` (clip ids, or 'clip:frame' pose ids) come from `source`; all when None."""
    if not source:
        return [True] * len(ids)
    sources = clip_sources(data_dir)
    known = sorted(set(sources.values()))
    if source not in known:
        raise InputError(f"source {source!r} is not in {data_dir} (it has {', '.join(known)})")
    return [sources.get(i.split(":")[0]) == source for i in ids]


def load_captioned_split(
    data_dir: str | Path, split: str, min_frames: int = 2 * UNIT, source: str | None = None
) -> CaptionedMotions:
    """Motions of `split` with at least `min_frames` frames and at least one caption, only those of
    `source` (meta.jsonl) when given: e.g. the held-out procedural motions of a mixed build."""
    dataset = open_dataset(data_dir)
    ids, features, captions = [], [], []
    split_ids = dataset.ids(split)
    for clip_id, kept in zip(split_ids, keep_source(data_dir, split_ids, source)):
        if not kept:
            continue
        vectors = dataset.features(clip_id)
        texts = (
            [t.caption for t in dataset.texts(clip_id)] if (dataset.root / "texts" / f"{clip_id}.txt").is_file() else []
        )
        if len(vectors) >= min_frames and texts:
            ids.append(clip_id)
            features.append(vectors)
            captions.append(texts)
    if not ids:
        which = f"{source} " if source else ""
        raise InputError(
            f"split {split!r} of {data_dir} has no captioned {which}motion of at least {min_frames} "
            "frames; build the data with `motion-train data`"
        )
    return CaptionedMotions(ids, features, captions)


def random_crop(
    features: np.ndarray, rng: np.random.Generator, max_frames: int = MAX_FRAMES, unit: int = UNIT
) -> np.ndarray:
    """Guo et al.'s evaluation crop of a `(T, C)` motion (see the module docstring)."""
    length = min(len(features), max_frames)
    if length // unit > 1 and rng.random() < 1 / 3:
        length = (length // unit - 1) * unit
    else:
        length = length // unit * unit
    start = int(rng.integers(0, len(features) - length + 1))
    return features[start : start + length]


def pad_batch(motions: list[np.ndarray]) -> tuple[torch.Tensor, torch.Tensor]:
    """`(T_i, C)` arrays -> zero-padded `(B, T_max, C)` float32 and lengths `(B,)` int64."""
    lengths = torch.tensor([len(m) for m in motions])
    batch = torch.zeros(len(motions), int(lengths.max()), motions[0].shape[-1])
    for i, motion in enumerate(motions):
        batch[i, : len(motion)] = torch.from_numpy(np.asarray(motion, np.float32))
    return batch, lengths


def caption_matches(queries: list[str], captions: list[list[str]]) -> np.ndarray:
    """`(N, M)` bool: query text i is one of motion j's captions."""
    return np.array([[q in set(c) for c in captions] for q in queries], dtype=bool)


@dataclass
class PosePairs:
    pose_a: np.ndarray  # (N, 22, 3) float32 metres
    pose_b: np.ndarray  # (N, 22, 3)
    texts: list[str]  # correction text of each pair


def load_pairs(data_dir: str | Path, split: str, source: str | None = None) -> PosePairs:
    """`pairs/pairs_{split}.npz` + `.jsonl` written by `motion-train data` (trainer.data.pairs); only
    pairs whose pose A comes from a clip of `source` when given."""
    folder = Path(data_dir) / "pairs"
    arrays_path, texts_path = folder / f"pairs_{split}.npz", folder / f"pairs_{split}.jsonl"
    if not arrays_path.is_file() or not texts_path.is_file():
        raise InputError(f"{arrays_path} or {texts_path} is missing; build pose pairs with `motion-train data`")
    with np.load(arrays_path, allow_pickle=False) as arrays:
        pose_a, pose_b = arrays["pose_a"].astype(np.float32), arrays["pose_b"].astype(np.float32)
        from_source = keep_source(data_dir, [str(i) for i in arrays["id_a"]], source) if source else None
    rows = [json.loads(line) for line in texts_path.read_text(encoding="utf-8").splitlines() if line.strip()]
    texts = [""] * len(pose_a)
    for row in rows:
        texts[row["index"]] = row["text"]
    keep = [i for i, t in enumerate(texts) if t.strip() and (from_source is None or from_source[i])]
    if not keep:
        raise InputError(f"{texts_path} has no pair with a correction text")
    return PosePairs(pose_a[keep], pose_b[keep], [texts[i] for i in keep])


def data_version(data_dir: str | Path) -> str:
    """A short fingerprint of a dataset folder: SHA-1 of its split lists and feature statistics (the
    files a rebuild changes), so a results table names the data it was computed on."""
    digest = hashlib.sha1()
    for name in ("train.txt", "val.txt", "test.txt", "Mean.npy", "Std.npy", "meta.jsonl"):
        path = Path(data_dir) / name
        if path.is_file():
            digest.update(name.encode() + path.read_bytes())
    return digest.hexdigest()[:12]
