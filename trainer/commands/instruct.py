"""`motion-train instruct --config FILE [--key=value ...]`: stage 3: instruction-tune the motion-language model on the task mixture."""

from __future__ import annotations

import argparse

from trainer.config import load_config


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "instruct",
        help="stage 3: instruction-tune the motion-language model on the task mixture",
        description="Stage 3: instruction-tune the motion-language model on the task mixture. Config keys may be "
        "overridden as --key=value (e.g. --max_steps=100 --data_dir=out/data --tokenizer_dir=runs/tokenizer_cpu/model). "
        "Resumes from RUN_DIR/checkpoints/last.",
    )
    parser.add_argument("--config", default="instruct_cpu", help="config file or shipped config name")
    parser.set_defaults(run=run, accepts_overrides=True)


def run(args: argparse.Namespace) -> int:
    from trainer.stages.instruct import InstructConfig, train_instruct  # noqa: PLC0415 - the stage imports torch (~1.7 s); the CLI parser imports every command module

    config = load_config(InstructConfig, args.config, args.overrides)
    model_dir = train_instruct(config)
    print(f"motion-language model saved to {model_dir}")
    return 0
