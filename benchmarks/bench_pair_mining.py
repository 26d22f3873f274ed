"""Speed of PoseFix pair mining's farthest-point sampling (FPS) on real poses, one CPU core.

    nice python benchmarks/bench_pair_mining.py /work/shared/data/bandai-namco-2 --clips 200 --select 1000

Poses: every 4th frame of the first `--clips` Bandai clips (canonical, heading-normalised, as
trainer.data.pairs mines them). Baseline: PoseScript's FPS as written in pose_mining.py, mean
per-joint Euclidean distance (MPJE) recomputed over all poses at each step, float64. Ours:
trainer.data.pairs.farthest_point_sampling, root-mean-square per-joint distance as one
matrix-vector product per step. Also printed: how far apart the two selections are (the smallest
MPJE from each of our poses to the baseline's set, median and max), since the metrics differ.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")  # one core: numpy's BLAS must not spread out
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse
import time
from pathlib import Path

import numpy as np

from engine.describe.joints import normalise
from engine.formats.canonical import load_motion
from trainer.data.pairs import farthest_point_sampling


def fps_mpje(points: np.ndarray, count: int) -> np.ndarray:
    """Baseline: PoseScript's FPS with the mean per-joint distance, `(N, 22, 3)` -> indices."""
    chosen = [0]
    distance = np.linalg.norm(points - points[0], axis=-1).mean(axis=-1)
    for _ in range(1, count):
        chosen.append(int(np.argmax(distance)))
        distance = np.minimum(distance, np.linalg.norm(points - points[chosen[-1]], axis=-1).mean(axis=-1))
    return np.array(chosen)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("bandai_dir", type=Path)
    parser.add_argument("--clips", type=int, default=200)
    parser.add_argument("--select", type=int, default=1000)
    args = parser.parse_args()
    files = sorted((args.bandai_dir / "data").glob("*.bvh"))[: args.clips]
    poses = np.concatenate([load_motion(f, preset="bandai").positions[::4] for f in files]).astype(np.float64)
    poses = normalise(poses)
    rows = []
    tick = time.perf_counter()
    base = fps_mpje(poses, args.select)
    rows.append(("PoseScript FPS, MPJE (baseline)", time.perf_counter() - tick))
    tick = time.perf_counter()
    ours = farthest_point_sampling(poses, args.select)
    rows.append(("ours, RMS joint distance, matvec", time.perf_counter() - tick))
    gap = np.array([np.linalg.norm(poses[base] - poses[i], axis=-1).mean(axis=-1).min() for i in ours])
    print(f"{len(poses)} candidate poses from {len(files)} clips, {args.select} selected\n")
    print("| method | seconds | speed-up vs baseline |\n|---|---|---|")
    for name, seconds in rows:
        print(f"| {name} | {seconds:.2f} | {rows[0][1] / seconds:.1f}x |")
    print(
        f"\nshared poses: {len(set(base) & set(ours))} of {args.select}; MPJE from each of ours to the "
        f"nearest baseline pose: median {100 * np.median(gap):.1f} cm, max {100 * gap.max():.1f} cm"
    )


if __name__ == "__main__":
    main()
