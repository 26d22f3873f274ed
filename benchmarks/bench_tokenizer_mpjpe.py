"""Motion tokenizer reconstruction error per data source, on a held-out split (issue 16 "Must show").

    python benchmarks/bench_tokenizer_mpjpe.py --data out/data_all \
        --tokenizer engine/assets/default_bundle/tokenizer [--tokenizer OTHER ...] [--split test]

Prints, per tokenizer and per source of meta.jsonl (Bandai dataset 2 = `bandai`, dataset 1 = `bandai1`,
`procedural`), MPJPE in mm pelvis-aligned (MotionGPT's protocol: the pelvis subtracted per frame on both
skeletons) and global (the root trajectory integrated from the reconstructed velocities, so drift counts).
Whole clips, cropped to a multiple of 4 frames, with their mirrors. `motion-train evaluate` gives the same
numbers beside FID, but needs 32 clips per source for its retrieval rows; dataset 1's test split has fewer.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from engine.models.tokenizer import MotionTokenizer  # noqa: E402
from engine.motion.features import features_to_joints  # noqa: E402
from trainer.evaluate.data import load_captioned_split  # noqa: E402
from trainer.evaluate.metrics import mpjpe  # noqa: E402
from trainer.evaluate.rows import tokenizer_reconstructions  # noqa: E402

SOURCES = ("bandai", "bandai1", "procedural")


def mpjpe_mm(tokenizer: MotionTokenizer, motions: list[np.ndarray]) -> tuple[float, float]:
    """(pelvis-aligned, global) mean per-joint position error in mm over `motions` `(T, 263)`."""
    recon, _ = tokenizer_reconstructions(tokenizer, motions)
    aligned, global_ = [], []
    for real, guess in zip(motions, recon):
        a, b = features_to_joints(real[: len(guess)]), features_to_joints(guess)  # (T, 22, 3) m
        global_.append(mpjpe(b, a))
        aligned.append(mpjpe(b - b[:, :1], a - a[:, :1]))
    return float(np.mean(aligned)) * 1000.0, float(np.mean(global_)) * 1000.0


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--tokenizer", type=Path, action="append", required=True)
    parser.add_argument("--split", default="test")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    splits = {s: load_captioned_split(args.data, args.split, min_frames=4, source=s) for s in SOURCES}
    print(f"| tokenizer | source | {args.split} clips | MPJPE pelvis-aligned (mm) | MPJPE global (mm) |")
    print("|---|---|---|---|---|")
    for path in args.tokenizer:
        tokenizer = MotionTokenizer.load(path).eval()
        with torch.no_grad():
            for source, split in splits.items():
                aligned, global_ = mpjpe_mm(tokenizer, split.features)
                print(f"| {path} | {source} | {len(split.ids)} | {aligned:.1f} | {global_:.1f} |")


if __name__ == "__main__":
    main()
