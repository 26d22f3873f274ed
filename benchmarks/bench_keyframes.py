"""Keyframe writing speed in bpy: rig_io.write_motion (keyframe_points.add + foreach_set) against
one `pose_bone.keyframe_insert` per bone per frame, measured in the same run on the same rig.

    python benchmarks/bench_keyframes.py [--frames 196] [--repeats 5]

Rig: the add-on's 22-bone SMPL armature; motion: 196 frames (9.8 s at 20 fps, HumanML3D's longest)
of 22 quaternions + a root location = 91 F-curves, 17,836 keys, scene at 24 fps. Each method
writes into a fresh action; the median of `--repeats` runs is reported. Target (issue 10): bulk
under 20 ms and at least 20x faster than keyframe_insert.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("BLENDER_USER_RESOURCES", tempfile.mkdtemp(prefix="mc_bench_"))
sys.path.insert(0, str(ROOT))

import bpy  # noqa: E402
import numpy as np  # noqa: E402

from blender_addon import rig_io  # noqa: E402


def motion(frames: int, bones: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    axis = rng.normal(size=(1, bones, 3))
    axis /= np.linalg.norm(axis, axis=-1, keepdims=True)
    angle = 0.5 * np.sin(np.arange(frames)[:, None, None] / 7.0 + rng.uniform(0, 6, (1, bones, 1)))
    quats = np.concatenate([np.cos(angle / 2), axis * np.sin(angle / 2)], axis=-1)
    root = np.stack([np.zeros(frames), np.zeros(frames), np.linspace(0, 3, frames)], axis=1)
    return quats, root


def bulk(obj, scene, names, quats, root) -> float:
    start = time.perf_counter()
    rig_io.write_motion(obj, scene, "bulk", names, quats, root, "pelvis", start_frame=1)
    return time.perf_counter() - start


def per_frame_insert(obj, scene, names, quats, root) -> float:
    """The common add-on way: set the pose, keyframe_insert each bone, frame after frame."""
    obj.animation_data_create().action = None
    fps = rig_io.scene_fps(scene)
    pose_bones = [obj.pose.bones[n] for n in names]
    start = time.perf_counter()
    for t in range(quats.shape[0]):
        frame = 1 + t * fps / rig_io.ENGINE_FPS
        for j, pb in enumerate(pose_bones):
            pb.rotation_quaternion = quats[t, j]
            pb.keyframe_insert("rotation_quaternion", frame=frame, group=pb.name)
        pose_bones[0].location = root[t]
        pose_bones[0].keyframe_insert("location", frame=frame, group=pose_bones[0].name)
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=196)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    bpy.ops.wm.read_factory_settings(use_empty=True)
    scene = bpy.context.scene
    scene.render.fps, scene.render.fps_base = 24, 1.0
    obj = rig_io.create_smpl_armature(bpy.context)
    names = [b.name for b in obj.pose.bones]
    quats, root = motion(args.frames, len(names))
    bulk_s = [bulk(obj, scene, names, quats, root) for _ in range(args.repeats)]
    insert_s = [per_frame_insert(obj, scene, names, quats, root) for _ in range(args.repeats)]
    keys = args.frames * (len(names) * 4 + 3)
    b, i = statistics.median(bulk_s) * 1e3, statistics.median(insert_s) * 1e3
    print(
        f"bpy {bpy.app.version_string}, {args.frames} frames x {len(names)} bones = {keys} keys, "
        f"median of {args.repeats}"
    )
    print("| method | ms | keys/ms | vs keyframe_insert |")
    print("|---|---|---|---|")
    print(f"| keyframe_insert per bone per frame | {i:.1f} | {keys / i:.0f} | 1.0x |")
    print(f"| rig_io.write_motion (add + foreach_set) | {b:.1f} | {keys / b:.0f} | {i / b:.1f}x |")
    ok = b < 20.0 and i / b >= 20.0
    print(f"target (< 20 ms and >= 20x): {'met' if ok else 'NOT met'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
