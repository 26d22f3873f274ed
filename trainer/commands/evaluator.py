"""`motion-train evaluator --config FILE [--key=value ...]`: train the frozen metric evaluators."""

from __future__ import annotations

import argparse

from trainer.config import load_config


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "evaluator",
        help="train the text/motion and text/pose-pair evaluators used by the metrics",
        description="Train the contrastive evaluators (Guo et al. style text<->motion, PoseFix-style "
        "text<->pose pair). Config keys may be overridden as --key=value "
        "(e.g. --data_dir=out/data --kinds='[\"text_motion\"]').",
    )
    parser.add_argument("--config", default="evaluator_cpu", help="config file or shipped config name")
    parser.set_defaults(run=run, accepts_overrides=True)


def run(args: argparse.Namespace) -> int:
    from trainer.stages.evaluator import EvaluatorTrainConfig, train_evaluators  # noqa: PLC0415 - the stage imports torch (~1.7 s); the CLI parser imports every command module

    config = load_config(EvaluatorTrainConfig, args.config, args.overrides)
    model_dir = train_evaluators(config)
    print(f"evaluators saved to {model_dir}")
    return 0
