"""`motion-train prompt-gate --out DIR`: build the bundle's prompt gate (trainer/stages/prompt_gate.py)."""

from __future__ import annotations

import argparse
from pathlib import Path

# 0.1 s with numpy; torch and the encoder load only when the build starts.
from trainer.stages.prompt_gate import DEFAULT_COUNTS, DEV_SET_PATH, build_prompt_gate


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "prompt-gate",
        help="build the prompt gate (refuses text-to-motion prompts far from the training captions)",
        description="Embed every training caption phrase with all-MiniLM-L6-v2, keep COUNT representatives "
        "(greedy k-centre; of several counts the one with the best dev balanced accuracy) and choose the refusal "
        "threshold on the dev prompts. No training; ~1 minute on 2 CPU cores.",
    )
    parser.add_argument("--out", type=Path, required=True, help="component directory, e.g. BUNDLE/prompt_gate")
    parser.add_argument(
        "--count",
        type=int,
        nargs="+",
        default=list(DEFAULT_COUNTS),
        help="representative captions kept; several: each is tried and the dev prompts pick one (default %(default)s)",
    )
    parser.add_argument("--dev", type=Path, default=None, help="dev prompts JSON {known: [...], unknown: [...]}")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    config = build_prompt_gate(args.out, args.count, args.dev or DEV_SET_PATH)
    dev = config["dev_set"]
    print(
        f"prompt gate saved to {args.out}: {config['count']} of {config['training_phrases']} caption phrases "
        f"(coverage radius {config['coverage_radius']}), threshold {config['threshold']}; dev set: "
        f"{dev['known_right']:.0%} of {dev['known']} known and {dev['unknown_right']:.0%} of {dev['unknown']} "
        f"unknown prompts judged right; dev balanced accuracy by count: {dev['balanced_accuracy_by_count']}"
    )
    return 0
