"""`motion-train pretrain --config FILE [--key=value ...]`: stage 2: pretrain the motion-language model (span corruption + text/motion translation)."""

from __future__ import annotations

import argparse

from trainer.config import load_config


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "pretrain",
        help="stage 2: pretrain the motion-language model (span corruption + text/motion translation)",
        description="Stage 2: pretrain the motion-language model (span corruption + text/motion translation). Config keys may be "
        "overridden as --key=value (e.g. --max_steps=100 --data_dir=out/data --tokenizer_dir=runs/tokenizer_cpu/model). "
        "Resumes from RUN_DIR/checkpoints/last.",
    )
    parser.add_argument("--config", default="pretrain_cpu", help="config file or shipped config name")
    parser.set_defaults(run=run, accepts_overrides=True)


def run(args: argparse.Namespace) -> int:
    from trainer.stages.pretrain import PretrainConfig, train_pretrain  # noqa: PLC0415 - the stage imports torch (~1.7 s); the CLI parser imports every command module

    config = load_config(PretrainConfig, args.config, args.overrides)
    model_dir = train_pretrain(config)
    print(f"motion-language model saved to {model_dir}")
    return 0
