"""Datasets over the HumanML3D folder layout that every stage reads (features, captions, splits).

Windows are sampled at random per step (T2M-GPT samples 64-frame crops), seeded per rank so that
data-parallel processes see different crops of the same epoch.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from engine.errors import InputError
from engine.formats.humanml3d import open_dataset


@dataclass
class FeatureSplit:
    ids: list[str]
    features: list[np.ndarray]  # each (T, C) float32, not normalised
    mean: np.ndarray  # (C,)
    std: np.ndarray  # (C,)


def load_feature_split(data_dir: str | Path, split: str, min_frames: int = 0) -> FeatureSplit:
    """Read `split` (train/val/test) of a HumanML3D-layout folder; clips shorter than `min_frames` are left out."""
    dataset = open_dataset(data_dir)
    ids = dataset.ids(split)
    kept_ids, features = [], []
    for clip_id in ids:
        vectors = dataset.features(clip_id)
        if len(vectors) >= min_frames:
            kept_ids.append(clip_id)
            features.append(np.asarray(vectors, dtype=np.float32))
    if not kept_ids:
        raise InputError(
            f"split {split!r} of {data_dir} has no clip of at least {min_frames} frames; "
            "build the data with `motion-train data` or lower the window"
        )
    mean, std = dataset.mean_std()
    return FeatureSplit(kept_ids, features, np.asarray(mean, np.float32), np.asarray(std, np.float32))


class RandomWindows:
    """Random fixed-length crops of normalised features: `sample(batch)` -> `(B, window, C)` float32."""

    def __init__(self, split: FeatureSplit, window: int, seed: int) -> None:
        self.window = window
        self.clips = [(f - split.mean) / split.std for f in split.features if len(f) >= window]
        if not self.clips:
            raise InputError(f"no clip is at least {window} frames long; lower the window")
        lengths = np.array([len(c) for c in self.clips], dtype=np.float64)
        self.weights = lengths / lengths.sum()  # longer clips hold more windows
        self.rng = np.random.default_rng(seed)

    def sample(self, batch: int) -> torch.Tensor:
        picks = self.rng.choice(len(self.clips), size=batch, p=self.weights)
        crops = []
        for index in picks:
            clip = self.clips[index]
            start = self.rng.integers(0, len(clip) - self.window + 1)
            crops.append(clip[start : start + self.window])
        return torch.from_numpy(np.stack(crops).astype(np.float32))


def whole_clips(split: FeatureSplit, unit: int = 4, max_frames: int = 196) -> list[np.ndarray]:
    """Normalised clips cropped to a multiple of `unit` frames (at most `max_frames`), for evaluation."""
    clips = []
    for features in split.features:
        length = min(len(features), max_frames) // unit * unit
        if length:
            clips.append(((features[:length] - split.mean) / split.std).astype(np.float32))
    return clips
