"""Pose pairs with correction texts, and the split loading both pair sources share.

`trainer.stages.pair_data` (mined and in-sequence pairs for the PoseFix stages) and
`trainer.data.joint_edits` (single-joint edits of real poses) both draw clips from a split, weight
them by length and label pairs with the automatic describer (engine.describe); the pieces live here
so that neither module imports the other.

Poses are joint positions `(N, 22, 3)` in metres (SMPL-22 order, engine.motion.skeleton).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from engine.describe import templates
from engine.describe.corrector import describe_changes
from engine.motion.heading import face_forward, heading_angle


@dataclass
class PairTexts:
    """Pairs with texts: `pose_a`, `pose_b` `(N, 22, 3)` float32 metres; `texts[i]` is a list of strings."""

    pose_a: np.ndarray
    pose_b: np.ndarray
    texts: list[list[str]]

    def __len__(self) -> int:
        return len(self.texts)

    @staticmethod
    def concat(parts: list[PairTexts]) -> PairTexts:
        parts = [p for p in parts if len(p)]
        if not parts:
            return PairTexts(np.zeros((0, 22, 3), np.float32), np.zeros((0, 22, 3), np.float32), [])
        return PairTexts(
            np.concatenate([p.pose_a for p in parts]),
            np.concatenate([p.pose_b for p in parts]),
            [t for p in parts for t in p.texts],
        )


def split_clips(data_dir: str | Path, split: str, min_frames: int = 1) -> list[np.ndarray]:
    """Joint positions `(T, 22, 3)` of the split's clips (`DATA/new_joints`) with at least `min_frames`."""
    data_dir = Path(data_dir)
    ids = (data_dir / f"{split}.txt").read_text(encoding="utf-8").split()
    clips = [np.load(data_dir / "new_joints" / f"{i}.npy", allow_pickle=False) for i in ids]
    return [c for c in clips if len(c) >= min_frames]


def pick_clips(clips: list[np.ndarray], count: int, rng: np.random.Generator) -> np.ndarray:
    """`count` clip indices drawn with replacement, each clip weighted by its length (every frame alike)."""
    weights = np.array([len(c) for c in clips], dtype=np.float64)
    return rng.choice(len(clips), size=count, p=weights / weights.sum())


def split_frames(data_dir: str | Path, split: str, count: int, seed: int = 0) -> np.ndarray:
    """`count` random frames `(count, 22, 3)` of the split's clips (`DATA/new_joints`), each turned to
    face +Z with its pelvis at x = z = 0."""
    clips = split_clips(data_dir, split)
    if count <= 0 or not clips:
        return np.zeros((0, 22, 3))
    rng = np.random.default_rng(seed)
    poses = np.stack([clips[c][int(rng.integers(len(clips[c])))] for c in pick_clips(clips, count, rng)])
    poses = poses.astype(np.float64)
    return face_forward(poses, heading_angle(poses), poses[:, 0])


def described_pairs(a: np.ndarray, b: np.ndarray, seed: int) -> PairTexts:
    """Pairs `(N, 22, 3)` (B in A's frame) labelled by engine.describe; pairs it finds unchanged are dropped."""
    texts = describe_changes(a, b, seed=seed)
    keep = [i for i, t in enumerate(texts) if t not in (templates.SAME_POSES, templates.NO_CHANGE)]
    return PairTexts(a[keep].astype(np.float32), b[keep].astype(np.float32), [[texts[i]] for i in keep])
