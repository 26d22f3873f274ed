"""Accuracy of the motion maths on real clips: IK/FK, retargeting and 263-dim feature round trips.

    python benchmarks/motion_maths_accuracy.py /path/to/bandai-namco-2 [--every N] [--preset bandai]

For every N-th BVH in DATA/data: joints = formats.canonical.bvh_to_smpl22 (20 fps, metres), then
- FK(IK(joints)) with the clip's own frame-0 skeleton: max joint error (mm);
- IK onto the default SMPL-22 skeleton: worst cosine between source and retargeted bone directions,
  and the largest one-frame change of a thigh / upper-arm local rotation (twist pops show here);
- features_to_joints(joints_to_features(joints)) vs the joints the features encode: max error (m);
- the same round trip with HumanML3D's unfixed yaw sign (no quat_fix): how many clips break.
Prints one table row per statistic (worst / mean over clips) and the time per clip of each step.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from engine.formats.canonical import bvh_to_smpl22
from engine.motion import features as F
from engine.motion import kinematics as K
from engine.motion import rotations as R
from engine.motion import skeleton as S


def bone_cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    pairs = [(j, S.children_of(j)[0]) for j in range(S.NUM_JOINTS) if len(S.children_of(j)) == 1]
    da = np.stack([a[:, c] - a[:, j] for j, c in pairs], 1)
    db = np.stack([b[:, c] - b[:, j] for j, c in pairs], 1)
    return np.sum(da * db, -1) / np.linalg.norm(da, axis=-1) / np.linalg.norm(db, axis=-1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("data", type=Path, help="the bandai-namco-2 folder (with data/*.bvh)")
    parser.add_argument("--every", type=int, default=1, help="use every N-th clip")
    parser.add_argument("--preset", default="bandai")
    args = parser.parse_args()
    clips = sorted((args.data / "data").glob("*.bvh"))[:: args.every]
    stats: dict[str, list[float]] = {k: [] for k in ("ik_mm", "cos", "step_deg", "feat_m", "unfixed_m")}
    times: dict[str, float] = {k: 0.0 for k in ("load", "ik+fk", "retarget", "features", "recover")}
    frames = 0
    for path in clips:
        t0 = time.perf_counter()
        pos = bvh_to_smpl22(path, preset=args.preset)
        t1 = time.perf_counter()
        own = S.offsets_from_positions(pos[0])
        quats, root = K.inverse_kinematics(pos, own)
        stats["ik_mm"].append(1000 * np.abs(K.forward_kinematics(quats, root, own) - pos).max())
        t2 = time.perf_counter()
        quats, root = K.inverse_kinematics(pos, S.default_rest_offsets())
        stats["cos"].append(bone_cosines(K.forward_kinematics(quats, root, S.default_rest_offsets()), pos).min())
        dots = np.abs(np.sum(quats[1:] * quats[:-1], -1)).clip(0, 1)
        stats["step_deg"].append(np.degrees(2 * np.arccos(dots))[:, [1, 2, 16, 17]].max())
        t3 = time.perf_counter()
        feats, encoded = F.joints_to_features(pos, return_joints=True)
        t4 = time.perf_counter()
        stats["feat_m"].append(np.abs(F.features_to_joints(feats) - encoded).max())
        t5 = time.perf_counter()
        fix, F.R.quat_fix = R.quat_fix, (lambda q: q)  # HumanML3D as written
        try:
            raw = F.joints_to_features(pos)
        finally:
            F.R.quat_fix = fix
        stats["unfixed_m"].append(np.abs(F.features_to_joints(raw) - encoded).max())
        for key, dt in zip(times, (t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4)):
            times[key] += dt
        frames += len(pos)
    n = len(clips)
    print(f"{n} clips, {frames} frames at 20 fps")
    print(f"{'statistic':48s} {'worst':>12s} {'mean':>12s}")
    print(
        f"{'FK(IK) max joint error, own skeleton (mm)':48s} {max(stats['ik_mm']):12.2e} {np.mean(stats['ik_mm']):12.2e}"
    )
    print(f"{'retarget to default: min bone cosine':48s} {min(stats['cos']):12.8f} {np.mean(stats['cos']):12.8f}")
    print(
        f"{'limb rotation change in one frame (deg)':48s} {max(stats['step_deg']):12.1f} {np.mean(stats['step_deg']):12.1f}"
    )
    print(f"{'263 round trip max error (m)':48s} {max(stats['feat_m']):12.2e} {np.mean(stats['feat_m']):12.2e}")
    broken = sum(e > 1e-3 for e in stats["unfixed_m"])
    print(
        f"{'same, HumanML3D unfixed yaw sign (m)':48s} {max(stats['unfixed_m']):12.2e} "
        f"{np.mean(stats['unfixed_m']):12.2e}   clips > 1 mm: {broken}/{n}"
    )
    print(f"{'step':48s} {'ms / clip':>12s}")
    for key, total in times.items():
        print(f"{key:48s} {1000 * total / n:12.1f}")


if __name__ == "__main__":
    main()
