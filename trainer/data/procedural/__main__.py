"""Print captions and plausibility statistics of procedural samples (and optionally of real clips).

Run: python -m trainer.data.procedural --count 1000 --seed 0 [--real DIR --real-count 60]
DIR is a Bandai-Namco dataset-2 folder (its data/*.bvh are loaded with engine.formats.canonical);
the real clips' figures are what the thresholds in plausibility.py were calibrated against.
"""

from __future__ import annotations

import argparse
import collections
import sys
import time
from pathlib import Path

import numpy as np

from engine.formats.canonical import load_motion

from .generator import generate_procedural
from .plausibility import CHECKS, aggregate_plausibility, check_plausibility


def _summary(name: str, results: list[dict], seconds: float) -> None:
    agg = aggregate_plausibility(results)
    print(
        f"{name}: {agg['samples']} motions in {seconds:.1f} s; failed any check: {agg['failed_any']} "
        f"({100 * agg['failed_any_rate']:.2f}%)"
    )
    for check in CHECKS:
        print(f"  {check:9s} failed {agg['failed'][check]:5d} ({100 * agg['failed_rate'][check]:.2f}%)")
    skate = np.array([r["skate_ratio"] for r in results])
    print(
        f"  skate ratio per motion: median {np.median(skate):.3f}, p99 {np.percentile(skate, 99):.3f}, "
        f"max {skate.max():.3f}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--show", type=int, default=5, help="print the captions of this many samples")
    parser.add_argument("--real", type=Path, default=None, help="Bandai-Namco dataset-2 folder to compare with")
    parser.add_argument("--real-count", type=int, default=60)
    args = parser.parse_args(argv)
    started = time.perf_counter()
    results, failures = [], collections.Counter()
    for i, sample in enumerate(generate_procedural(args.count, args.seed)):
        result = check_plausibility(sample.positions)
        results.append(result)
        if not result["plausible"]:
            failures[(sample.params["kind"],) + tuple(c for c in CHECKS if not result[f"{c}_ok"])] += 1
        if i < args.show:
            print(f"{sample.params['kind']} ({len(sample.positions)} frames): " + " | ".join(sample.captions))
    _summary("procedural", results, time.perf_counter() - started)
    if failures:
        print("  failing kinds:", ", ".join(f"{'/'.join(k)} x{n}" for k, n in failures.most_common(8)))
    if args.real is not None:
        clips = sorted((args.real / "data").glob("*.bvh"))
        picks = np.random.default_rng(args.seed).choice(len(clips), min(args.real_count, len(clips)), replace=False)
        started = time.perf_counter()
        real = [check_plausibility(load_motion(clips[i]).positions) for i in sorted(picks)]
        _summary(f"real ({args.real.name})", real, time.perf_counter() - started)
    return 0


if __name__ == "__main__":
    sys.exit(main())
