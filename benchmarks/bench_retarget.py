"""Speed of retargeting (engine/rig/retarget.py): 196 frames (HumanML3D's longest clip, 9.8 s at
20 fps) onto a 60-bone rig, against a per-frame loop measured in the same run.

Run: `python benchmarks/bench_retarget.py [--frames 196] [--repeats 20]`. Prints a table of median
wall and CPU times; "ratio" is each row's CPU time over the per-frame baseline's (lower is better).
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

from engine.motion.kinematics import forward_kinematics, inverse_kinematics
from engine.motion.rotations import axis_angle_to_quat
from engine.motion.skeleton import JOINT_NAMES, PARENTS, children_of, default_rest_offsets, default_rest_positions
from engine.rig.description import RigDescription, canonical_to_armature_matrix
from engine.rig.retarget import retarget, rig_pose_to_canonical


def sixty_bone_rig() -> RigDescription:
    """SMPL-named body (22 bones aimed at their child, random rolls) + 30 finger bones + 8 helpers."""
    joints = default_rest_positions()
    rows = []
    for j, name in enumerate(JOINT_NAMES):
        kids = children_of(j)
        tail = joints[kids[0]] if kids else joints[j] + [0.0, 0.05, 0.02]
        rows.append((name, PARENTS[j], joints[j], tail))
    for side, wrist in (("l", 20), ("r", 21)):
        sign = 1.0 if side == "l" else -1.0
        for f in range(5):
            parent = wrist
            for k in range(3):
                head = joints[wrist] + [sign * (0.08 + 0.03 * k), 0.0, 0.02 * (f - 2)]
                rows.append((f"finger{f}_{k}.{side}", parent, head, head + [sign * 0.03, 0.0, 0.0]))
                parent = len(rows) - 1
    for j in (1, 2, 4, 5, 16, 17, 18, 19):  # twist helpers hanging off the limbs
        rows.append((f"twist.{JOINT_NAMES[j]}", j, joints[j], joints[j] + [0.0, 0.0, 0.05]))
    to_armature = canonical_to_armature_matrix("Z", "-Y")
    heads = np.array([r[2] for r in rows]) @ to_armature.T
    tails = np.array([r[3] for r in rows]) @ to_armature.T
    rolls = np.random.default_rng(0).uniform(-np.pi, np.pi, len(rows))
    return RigDescription.from_head_tail_roll([r[0] for r in rows], [r[1] for r in rows], heads, tails, rolls)


def motion(num_frames: int) -> np.ndarray:
    rng = np.random.default_rng(0)
    t = np.arange(num_frames)[:, None, None] / 20.0
    aa = rng.uniform(0, 0.5, (1, 22, 3)) * np.sin(2 * np.pi * rng.uniform(0.3, 1.5, (1, 22, 3)) * t)
    offsets = default_rest_offsets()
    return forward_kinematics(axis_angle_to_quat(aa), offsets[0] + t[:, 0] * [0.0, 0.0, 1.2], offsets)


def median_ms(fn, repeats: int) -> tuple[float, float]:
    """Median wall and CPU (this process) milliseconds; CPU time is steadier on a shared machine."""
    fn()  # warm-up
    wall, cpu = [], []
    for _ in range(repeats):
        start, start_cpu = time.perf_counter(), time.process_time()
        fn()
        wall.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    return 1000.0 * float(np.median(wall)), 1000.0 * float(np.median(cpu))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=196)
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()
    rig, positions = sixty_bone_rig(), motion(args.frames)
    anim = retarget(positions, rig)
    rows = [
        ("per-frame loop (baseline)", lambda: [retarget(positions[t : t + 1], rig) for t in range(len(positions))]),
        ("retarget, vectorised", lambda: retarget(positions, rig)),
        ("  of which: engine IK alone", lambda: inverse_kinematics(positions, default_rest_offsets())),
        ("rig_pose_to_canonical", lambda: rig_pose_to_canonical(rig, anim.rotations, anim.root_location)),
    ]
    baseline = None
    print(
        f"{args.frames} frames x {rig.num_bones} bones, median of {args.repeats} runs "
        f"(load average {os.getloadavg()[0]:.1f})"
    )
    print(f"{'what':32s} {'wall ms':>9s} {'cpu ms':>9s} {'ratio':>8s}")
    for name, fn in rows:
        wall, cpu = median_ms(fn, args.repeats if baseline is not None else max(3, args.repeats // 5))
        baseline = baseline or cpu
        print(f"{name:32s} {wall:9.2f} {cpu:9.2f} {cpu / baseline:8.3f}")


if __name__ == "__main__":
    main()
