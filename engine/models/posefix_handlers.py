"""The server's handlers of the PoseFix models: `edit_pose` (pose editor) and `describe_change` with
method "model" (correction writer).

Every handler is `handler(models, jobs) -> [(result, arrays) | Exception]` (engine/operations.py),
with `models` the bundle's `engine.bundle.Models`. Each job is checked first, so a bad pose or an
empty text fails only its own job; then, by the seeding rule of engine/jobs.py, the unseeded jobs of
a batch share ONE model call and each seeded job runs alone under `seeded(seed)`.

Poses arrive as `(22, 3)` joint positions (metres, Y up) of the canonical skeleton. `edit_pose`
answers `pose` `(22, 3)` float32 (the input's bone lengths, facing +Z, pelvis at x = z = 0, lowest
joint on the floor) and `quats` `(22, 4)` float32 canonical local rotations (w, x, y, z). The CVAE
proposes (prior mean and 8 draws, seeded by `seed`, or 0 without one) and engine.models.edit_search
picks and scales the edit that does what the command asks: deterministic for (pose, text, seed).
`describe_change` is greedy without a seed (or with `deterministic`), else one sampled sentence
(temperature 0.7).
"""

from __future__ import annotations

import numpy as np

from engine.describe.joints import normalise
from engine.errors import InputError
from engine.jobs import run_batched, seeded
from engine.motion.heading import face_forward, heading_angle


def _pose(job, name: str) -> np.ndarray:
    pose = np.asarray(job.arrays[name], np.float64)
    if pose.shape != (22, 3) or not np.isfinite(pose).all():
        raise InputError(f"'{name}' must be finite joint positions of shape (22, 3) in metres, got {pose.shape}")
    return pose


def _text(job) -> str:
    text = job.args.get("text")
    if not isinstance(text, str) or not text.strip():
        raise InputError("the correction text is empty; describe the change, e.g. 'raise the left arm'.")
    return text


def edit_poses(
    editor, poses: np.ndarray, texts: list[str], sample: bool, seed: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Decisive edits of B poses: `(B, 22, 3)` metres + B texts -> edited positions `(B, 22, 3)` (facing
    +Z, pelvis at x = z = 0, on the floor, on each input's own bone lengths) and quats `(B, 22, 4)`,
    float32. The CVAE proposes (prior mean + 8 draws, drawn with `seed`, 0 without one) and
    engine.models.edit_search makes the edit do what the command asks (restrict, guide, rerank).
    `sample` is kept for callers of the old signature; the draws are always seeded.
    """
    from engine.models.edit_search import DecisiveEditor, EditOptions  # noqa: PLC0415 - imports torch (~1.7 s)
    from engine.models.pose_codec import positions_to_sixd  # noqa: PLC0415 - imports torch

    canonical = normalise(np.asarray(poses, np.float64))
    sixd = positions_to_sixd(canonical)  # (B, 22, 6)
    decisive = DecisiveEditor(editor, EditOptions(seed=0 if seed is None else int(seed)))
    positions, quats = [], []
    for pose, rotations, text in zip(canonical, sixd, texts):
        result = decisive.edit(rotations, pose, text)
        positions.append(result.positions)
        quats.append(result.quats)
    out = np.stack(positions).astype(np.float32)
    out[..., 1] -= out[..., 1].min(axis=1, keepdims=True)
    return out, np.stack(quats).astype(np.float32)


def edit_pose(models, jobs: list) -> list:
    """`pose` `(22, 3)` + `text` (+ `seed`) -> `pose` `(22, 3)` and `quats` `(22, 4)`."""
    editor = models.pose_editor()

    def run_group(members: list, items: list) -> list:
        seed = members[0].args.get("seed")
        poses, texts = zip(*items)
        with seeded(seed):
            positions, quats = edit_poses(editor, np.stack(poses), list(texts), sample=seed is not None, seed=seed)
        return [({"sampled": seed is not None}, {"pose": p, "quats": q}) for p, q in zip(positions, quats)]

    return run_batched(jobs, lambda job: (_pose(job, "pose"), _text(job)), run_group, label="edit pose")


def describe_change(models, jobs: list) -> list:
    """`pose_a`, `pose_b` `(22, 3)` -> `text`, the correction that turns A into B."""
    import torch  # noqa: PLC0415 - torch costs ~1.7 s; this module is on the server's start-up path

    writer = models.correction_writer()
    device = next(writer.parameters()).device

    def run_group(members: list, pairs: list) -> list:
        sixd = torch.from_numpy(np.stack(pairs)).to(device)  # (B, 2, 22, 6)
        seed = members[0].args.get("seed")
        if seed is None or members[0].args.get("deterministic"):
            texts = writer.generate(sixd[:, 0], sixd[:, 1], "greedy")
        else:
            with seeded(seed):
                texts = writer.generate(sixd[:, 0], sixd[:, 1], "sample", temperature=0.7)
        return [({"text": text}, {}) for text in texts]

    def prepare(job) -> np.ndarray:
        return _pair_sixd(np.stack([_pose(job, "pose_a"), _pose(job, "pose_b")]))

    return run_batched(jobs, prepare, run_group, label="describe change")


def _pair_sixd(poses: np.ndarray) -> np.ndarray:
    """`(2, 22, 3)` pose A, pose B -> `(2, 22, 6)` float32, both turned by A's heading (PoseFix 1.2: the
    turn from A to B is part of the correction)."""
    from engine.models.pose_codec import positions_to_sixd  # noqa: PLC0415 - imports torch (~1.7 s)

    turned = face_forward(poses, np.repeat(heading_angle(poses[:1]), 2), np.repeat(poses[:1, 0], 2, axis=0))
    return positions_to_sixd(turned)
