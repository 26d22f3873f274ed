"""Small synthetic pose-pair datasets for the PoseFix model and stage tests (no real data needed)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from engine.motion import rotations as R
from engine.motion.kinematics import forward_kinematics
from engine.motion.skeleton import NUM_JOINTS, default_rest_offsets


def random_poses(count: int, seed: int = 0, spread_deg: float = 25.0) -> np.ndarray:
    """`(count, 22, 3)` float32 plausible-ish poses: random local rotations on the default skeleton,
    pelvis 0.9 m up, no root rotation (so they face +Z)."""
    rng = np.random.default_rng(seed)
    axis_angle = rng.normal(0.0, np.radians(spread_deg), (count, NUM_JOINTS, 3))
    axis_angle[:, 0] = 0.0
    quats = R.axis_angle_to_quat(axis_angle)
    root = np.tile([0.0, 0.9, 0.0], (count, 1))
    return forward_kinematics(quats, root, default_rest_offsets()).astype(np.float32)


def write_dataset(root: Path, clips: int = 4, frames: int = 30, pairs: int = 24, seed: int = 0) -> Path:
    """A HumanML3D-layout folder with `new_joints`, split lists and mined-pair files (train/val/test)."""
    from trainer.data.pairs import PairSet, describe_pairs, save_pairs

    (root / "new_joints").mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for split_index, split in enumerate(("train", "val", "test")):
        ids = []
        for c in range(clips):
            start, end = random_poses(2, seed=seed + 100 * split_index + c)
            t = np.linspace(0.0, 1.0, frames)[:, None, None]
            clip_id = f"{split[0]}{c:03d}"
            np.save(root / "new_joints" / f"{clip_id}.npy", ((1 - t) * start + t * end).astype(np.float32))
            ids.append(clip_id)
        (root / f"{split}.txt").write_text("\n".join(ids) + "\n")
        a = random_poses(pairs, seed=seed + 10 + split_index)
        b = random_poses(pairs, seed=seed + 20 + split_index)
        mix = rng.uniform(0.3, 0.7, (pairs, 1, 1)).astype(np.float32)
        b = mix * a + (1 - mix) * b
        pair_set = PairSet(
            a,
            b,
            [f"a{i}" for i in range(pairs)],
            [f"b{i}" for i in range(pairs)],
            ["out_one_way"] * pairs,
            np.zeros(pairs, np.float32),
        )
        save_pairs(pair_set, describe_pairs(pair_set, seed), root / "pairs", split)
    return root


def one_torch_thread():
    """Generator for an autouse fixture: tiny models run faster on one thread than on contended two."""
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)
