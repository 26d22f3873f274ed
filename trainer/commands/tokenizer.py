"""`motion-train tokenizer --config FILE [--key=value ...]`: stage 1, the motion tokenizer."""

from __future__ import annotations

import argparse

from trainer.config import load_config


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "tokenizer",
        help="train the motion tokenizer (VQ-VAE)",
        description="Train the VQ-VAE motion tokenizer. Config keys may be overridden as --key=value "
        "(e.g. --max_steps=100 --data_dir=out/data). Resumes from RUN_DIR/checkpoints/last.",
    )
    parser.add_argument("--config", default="tokenizer_cpu", help="config file or shipped config name")
    parser.set_defaults(run=run, accepts_overrides=True)


def run(args: argparse.Namespace) -> int:
    from trainer.stages.tokenizer import TokenizerTrainConfig, train_tokenizer  # noqa: PLC0415 - the stage imports torch (~1.7 s); the CLI parser imports every command module

    config = load_config(TokenizerTrainConfig, args.config, args.overrides)
    model_dir = train_tokenizer(config)
    print(f"tokenizer saved to {model_dir}")
    return 0
