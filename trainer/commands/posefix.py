"""`motion-train posefix --config FILE [--key=value ...]`: train the pose editor (PoseFix CVAE)."""

from __future__ import annotations

import argparse

from trainer.config import load_config


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "posefix",
        help="train the pose editor (text-conditioned pose correction)",
        description="Train the PoseFix pose editor on automatically labelled pose pairs, or finetune it on "
        "human texts in PoseFix's JSON format (--human_annotations=... --human_pair_ids=... "
        "--human_poses=... --init_from=MODEL_DIR). Config keys may be overridden as --key=value "
        "(e.g. --max_steps=100 --data_dir=out/data). Resumes from RUN_DIR/checkpoints/last.",
    )
    parser.add_argument("--config", default="posefix_cpu", help="config file or shipped config name")
    parser.set_defaults(run=run, accepts_overrides=True)


def run(args: argparse.Namespace) -> int:
    from trainer.stages.posefix import PosefixTrainConfig, train_posefix  # noqa: PLC0415 - the stage imports torch (~1.7 s); the CLI parser imports every command module

    config = load_config(PosefixTrainConfig, args.config, args.overrides)
    model_dir = train_posefix(config)
    print(f"pose editor saved to {model_dir}")
    return 0
