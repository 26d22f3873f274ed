"""`motion-train feedback --config FILE [--key=value ...]`: train the correction writer (PoseFix)."""

from __future__ import annotations

import argparse

from trainer.config import load_config


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "feedback",
        help="train the correction writer (pose pair -> instruction)",
        description="Train the PoseFix correction writer on automatically labelled pose pairs, or finetune it "
        "on human texts in PoseFix's JSON format (--human_annotations=... --human_pair_ids=... "
        "--human_poses=... --init_from=MODEL_DIR). Config keys may be overridden as --key=value. "
        "Resumes from RUN_DIR/checkpoints/last.",
    )
    parser.add_argument("--config", default="feedback_cpu", help="config file or shipped config name")
    parser.set_defaults(run=run, accepts_overrides=True)


def run(args: argparse.Namespace) -> int:
    from trainer.stages.feedback import FeedbackTrainConfig, train_feedback  # noqa: PLC0415 - the stage imports torch (~1.7 s); the CLI parser imports every command module

    config = load_config(FeedbackTrainConfig, args.config, args.overrides)
    model_dir = train_feedback(config)
    print(f"correction writer saved to {model_dir}")
    return 0
