"""Embedding helpers: run a frozen evaluator over motions, texts and pose pairs in batches."""

from __future__ import annotations

import numpy as np
import torch

from trainer.evaluate.data import CaptionedMotions, pad_batch, random_crop
from trainer.evaluate.evaluator_models import Evaluator

BATCH = 64


@torch.no_grad()
def embed_motions(model: Evaluator, motions: list[np.ndarray], batch: int = BATCH) -> np.ndarray:
    """Raw `(T_i, 263)` features (T_i a multiple of 4) -> `(N, D)` float32 embeddings."""
    out = []
    for start in range(0, len(motions), batch):
        features, lengths = pad_batch(motions[start : start + batch])
        out.append(model.encode_motion(features.to(model.mean.device), lengths).cpu().numpy())
    return np.concatenate(out)


@torch.no_grad()
def embed_texts(model: Evaluator, texts: list[str], batch: int = 256) -> np.ndarray:
    return np.concatenate([model.encode_text(texts[s : s + batch]).cpu().numpy() for s in range(0, len(texts), batch)])


def sample_captions(data: CaptionedMotions, rng: np.random.Generator) -> list[str]:
    """One caption per motion, drawn at random (as Guo et al.'s loader does per epoch)."""
    return [caps[rng.integers(len(caps))] for caps in data.captions]


def embed_captioned(
    model: Evaluator,
    data: CaptionedMotions,
    rng: np.random.Generator,
    motions: list[np.ndarray] | None = None,
    chosen: list[str] | None = None,
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Text and motion embeddings `(N, D)` of one evaluation draw: a random caption per motion (or
    `chosen`) and a random crop of each motion (`motions` replaces the dataset's, e.g. generated ones)."""
    chosen = sample_captions(data, rng) if chosen is None else chosen
    crops = [random_crop(m, rng) for m in (motions if motions is not None else data.features)]
    return embed_texts(model, chosen), embed_motions(model, crops), chosen


@torch.no_grad()
def embed_pairs(model: Evaluator, pose_a: np.ndarray, pose_b: np.ndarray, batch: int = 512) -> np.ndarray:
    return np.concatenate(
        [
            model.encode_pair(torch.from_numpy(pose_a[s : s + batch]), torch.from_numpy(pose_b[s : s + batch])).numpy()
            for s in range(0, len(pose_a), batch)
        ]
    )


@torch.no_grad()
def embed_poses(model: Evaluator, poses: np.ndarray, batch: int = 512) -> np.ndarray:
    """Pose features `(N, hidden)` of the pair evaluator's pose encoder (the pose FID features)."""
    return np.concatenate(
        [
            model.encode_pose(torch.from_numpy(np.asarray(poses[s : s + batch], np.float32))).numpy()
            for s in range(0, len(poses), batch)
        ]
    )
