"""Engine handlers for the PoseFix models: `edit_pose` (pose editor) and `describe_change` with
method "model" (correction writer). The lead registers them in engine.operations:

    MODEL_FACTORIES["edit_pose"] = make_edit_pose_handler
    MODEL_FACTORIES["describe_change"] = make_describe_change_handler

Each factory loads its component from the bundle once and returns a batch handler
`handler(jobs) -> [(result, arrays) | Exception]` (engine/operations.py). Poses arrive as `(22, 3)`
joint positions (metres, Y up) of the canonical skeleton. `edit_pose` answers `pose` `(22, 3)`
float32 (default rest skeleton, facing +Z, pelvis at x = z = 0, lowest joint on the floor) and
`quats` `(22, 4)` float32 canonical local rotations (w, x, y, z). Without a seed the editor returns
its prior mean (the most likely edit); with a seed, one seeded sample.
"""

from __future__ import annotations

import numpy as np
import torch

from engine.models.correction_writer import CorrectionWriter
from engine.models.pose_codec import positions_to_sixd
from engine.models.pose_editor import PoseEditor
from engine.motion.heading import face_forward, heading_angle


def make_edit_pose_handler(bundle, device: str = "cpu"):
    editor = PoseEditor.load(bundle.components["pose_editor"].path, device)

    def handler(jobs: list) -> list:
        outcomes = []
        for job in jobs:
            try:
                seed = job.args.get("seed")
                if seed is not None:
                    torch.manual_seed(int(seed))
                out = editor.edit(
                    np.asarray(job.arrays["pose"], np.float32), job.args["text"], num_samples=0 if seed is None else 1
                )
                pose = out["positions"].reshape(22, 3).copy()
                pose[:, 1] -= pose[:, 1].min()
                outcomes.append(
                    (
                        {"sampled": seed is not None},
                        {"pose": pose.astype(np.float32), "quats": out["quats"].reshape(22, 4)},
                    )
                )
            except Exception as error:  # noqa: BLE001 - per-job error, the batch goes on
                outcomes.append(error)
        return outcomes

    return handler


def make_describe_change_handler(bundle, device: str = "cpu"):
    writer = CorrectionWriter.load(bundle.components["correction_writer"].path, device)

    def handler(jobs: list) -> list:
        outcomes = []
        for job in jobs:
            try:
                poses = np.stack([np.asarray(job.arrays[name], np.float64) for name in ("pose_a", "pose_b")])
                sixd = torch.from_numpy(_pair_sixd(poses)).to(device)
                seed = job.args.get("seed")
                if seed is None or job.args.get("deterministic"):
                    text = writer.generate(sixd[:1], sixd[1:], "greedy")[0]
                else:
                    generator = torch.Generator(device=device).manual_seed(int(seed))
                    text = writer.generate(sixd[:1], sixd[1:], "sample", temperature=0.7, generator=generator)[0]
                outcomes.append(({"text": text}, {}))
            except Exception as error:  # noqa: BLE001
                outcomes.append(error)
        return outcomes

    return handler


def _pair_sixd(poses: np.ndarray) -> np.ndarray:
    """`(2, 22, 3)` pose A, pose B -> `(2, 22, 6)`, both turned by A's heading (PoseFix 1.2: the turn
    from A to B is part of the correction)."""
    turned = face_forward(poses, np.repeat(heading_angle(poses[:1]), 2), np.repeat(poses[:1, 0], 2, axis=0))
    return np.stack([positions_to_sixd(turned[i : i + 1])[0] for i in range(2)])
