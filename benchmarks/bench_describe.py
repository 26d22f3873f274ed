"""Speed of the automatic descriptions on one CPU core, and how many pairs get no instruction.

    nice python benchmarks/bench_describe.py /work/shared/data/bandai-namco-2 --pairs 10000

Pairs are built from real poses: random frames of random Bandai clips (`--clips` of them), as
  - in-sequence pairs: frame t and a frame 1-10 frames later (<= 0.5 s, as PoseFix mines them);
  - out-of-sequence pairs: frames of two different clips;
  - perturbed pairs: a pose and a copy with small rigid edits (elbows bent 0-30 degrees, a knee
    lifted 0-0.15 m).
Baseline: the same work done one pair at a time through `describe_change` (no batching), timed on
a subset and scaled to the full count.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")  # one core: numpy's BLAS must not spread out
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import argparse
import time
from pathlib import Path

import numpy as np

from engine.describe import (
    NO_CHANGE,
    SAME_POSES,
    describe_change,
    describe_changes,
    describe_poses,
    edits,
)
from engine.formats.canonical import load_motion


def load_clips(data_dir: Path, count: int, rng: np.random.Generator) -> list[np.ndarray]:
    files = sorted((data_dir / "data").glob("*.bvh"))
    if not files:
        raise SystemExit(f"no .bvh files under {data_dir / 'data'}; pass the Bandai dataset folder")
    chosen = rng.choice(len(files), size=min(count, len(files)), replace=False)
    return [load_motion(files[i]).positions.astype(np.float64) for i in chosen]


def make_pairs(clips: list[np.ndarray], n: int, rng: np.random.Generator) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """n pairs split in three kinds, each `(n_k, 22, 3)` float64."""
    kinds = {}
    third = n // 3
    a, b = [], []
    for _ in range(third):
        clip = clips[rng.integers(len(clips))]
        t = int(rng.integers(len(clip)))
        a.append(clip[t])
        b.append(clip[min(len(clip) - 1, t + int(rng.integers(1, 11)))])
    kinds["in-sequence"] = (np.array(a), np.array(b))
    a, b = [], []
    for _ in range(third):
        i, j = rng.choice(len(clips), size=2, replace=False)
        a.append(clips[i][rng.integers(len(clips[i]))])
        b.append(clips[j][rng.integers(len(clips[j]))])
    kinds["out-of-sequence"] = (np.array(a), np.array(b))
    a, b = [], []
    for _ in range(n - 2 * third):
        clip = clips[rng.integers(len(clips))]
        pose = clip[rng.integers(len(clip))]
        edited = edits.bend_elbow(pose, "left", rng.uniform(0, 30))
        edited = edits.bend_elbow(edited, "right", rng.uniform(0, 30))
        edited = edits.lift_knee(edited, ("left", "right")[int(rng.integers(2))], rng.uniform(0.0, 0.15))
        a.append(pose)
        b.append(edited)
    kinds["perturbed"] = (np.array(a), np.array(b))
    return kinds


def timed(fn, *args, **kwargs) -> tuple[float, object]:
    start = time.perf_counter()
    out = fn(*args, **kwargs)
    return time.perf_counter() - start, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("data_dir", type=Path, help="Bandai-Namco dataset-2 folder (with data/*.bvh)")
    parser.add_argument("--pairs", type=int, default=10000)
    parser.add_argument("--clips", type=int, default=80, help="how many random clips to draw frames from")
    parser.add_argument("--baseline-pairs", type=int, default=1000, help="subset timed one pair at a time")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    rng = np.random.default_rng(args.seed)
    clips = load_clips(args.data_dir, args.clips, rng)
    kinds = make_pairs(clips, args.pairs, rng)
    all_a = np.concatenate([a for a, _ in kinds.values()])
    all_b = np.concatenate([b for _, b in kinds.values()])
    n = len(all_a)
    scale = 10000.0 / n

    m = min(args.baseline_pairs, n)
    t_base, _ = timed(lambda: [describe_change(all_a[i], all_b[i], seed=i) for i in range(m)])
    t_base *= n / m
    rows = [("describe_change, one pair at a time (baseline)", t_base)]
    t_rand, texts = timed(describe_changes, all_a, all_b, seed=args.seed)
    rows.append(("describe_changes, batched, random", t_rand))
    t_det, det_texts = timed(describe_changes, all_a, all_b, deterministic=True)
    rows.append(("describe_changes, batched, deterministic", t_det))
    t_pose, _ = timed(describe_poses, all_a, seed=args.seed)
    rows.append(("describe_poses (pose A), batched, random", t_pose))

    print(f"{n} pairs from {len(clips)} real clips, one CPU core\n")
    print(f"| {'what':48s} | s per 10,000 | vs baseline |")
    print(f"|{'-' * 50}|--------------|-------------|")
    for name, seconds in rows:
        print(f"| {name:48s} | {seconds * scale:12.2f} | {t_base / seconds:10.1f}x |")
    print(f"\n| {'pair kind':16s} | pairs | no instruction (random) | no instruction (deterministic) | identical |")
    print(f"|{'-' * 18}|-------|-------------------------|--------------------------------|-----------|")
    start = 0
    for kind, (a, _) in kinds.items():
        chunk, det_chunk = texts[start : start + len(a)], det_texts[start : start + len(a)]
        start += len(a)
        none = sum(t == NO_CHANGE for t in chunk)
        det_none = sum(t == NO_CHANGE for t in det_chunk)
        same = sum(t == SAME_POSES for t in chunk)
        print(f"| {kind:16s} | {len(a):5d} | {none:23d} | {det_none:30d} | {same:9d} |")
    words = np.array([len(t.split()) for t in texts if t not in (NO_CHANGE, SAME_POSES)])
    print(
        f"\nwords per instruction (random mode): median {np.median(words):.0f}, "
        f"90th percentile {np.percentile(words, 90):.0f}"
    )


if __name__ == "__main__":
    main()
