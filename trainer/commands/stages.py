"""The training-stage commands of `motion-train`: one table, one way to register and run them.

Each stage is `motion-train STAGE --config FILE [--key=value ...]`: load the config (a shipped name or a
TOML file, any key overridable), train (resuming from RUN_DIR/checkpoints/last), print where the model
was saved.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from trainer.config import load_config

# Each loader imports its stage when the command runs: a stage imports torch (~1.7 s) and the CLI
# parser registers every command.


def _tokenizer() -> tuple[type, Callable[[Any], Path]]:
    from trainer.stages.tokenizer import TokenizerTrainConfig, train_tokenizer  # noqa: PLC0415 - see above

    return TokenizerTrainConfig, train_tokenizer


def _evaluator() -> tuple[type, Callable[[Any], Path]]:
    from trainer.stages.evaluator import EvaluatorTrainConfig, train_evaluators  # noqa: PLC0415 - see above

    return EvaluatorTrainConfig, train_evaluators


def _pretrain() -> tuple[type, Callable[[Any], Path]]:
    from trainer.stages.pretrain import PretrainConfig, train_pretrain  # noqa: PLC0415 - see above

    return PretrainConfig, train_pretrain


def _instruct() -> tuple[type, Callable[[Any], Path]]:
    from trainer.stages.instruct import InstructConfig, train_instruct  # noqa: PLC0415 - see above

    return InstructConfig, train_instruct


def _posefix() -> tuple[type, Callable[[Any], Path]]:
    from trainer.stages.posefix import PosefixTrainConfig, train_posefix  # noqa: PLC0415 - see above

    return PosefixTrainConfig, train_posefix


def _feedback() -> tuple[type, Callable[[Any], Path]]:
    from trainer.stages.feedback import FeedbackTrainConfig, train_feedback  # noqa: PLC0415 - see above

    return FeedbackTrainConfig, train_feedback


@dataclass(frozen=True)
class StageCommand:
    name: str
    help: str
    description: str
    default_config: str
    saved: str  # what the run saves, for the closing line
    load: Callable[[], tuple[type, Callable[[Any], Path]]]


STAGES: tuple[StageCommand, ...] = (
    StageCommand(
        "tokenizer",
        "train the motion tokenizer (VQ-VAE)",
        "Train the VQ-VAE motion tokenizer. Config keys may be overridden as --key=value (e.g. --max_steps=100 --data_dir=out/data). Resumes from RUN_DIR/checkpoints/last.",
        "tokenizer_cpu",
        "tokenizer",
        _tokenizer,
    ),
    StageCommand(
        "evaluator",
        "train the text/motion and text/pose-pair evaluators used by the metrics",
        "Train the contrastive evaluators (Guo et al. style text<->motion, PoseFix-style text<->pose pair). Config keys may be overridden as --key=value (e.g. --data_dir=out/data --kinds='[\"text_motion\"]').",
        "evaluator_cpu",
        "evaluators",
        _evaluator,
    ),
    StageCommand(
        "pretrain",
        "stage 2: pretrain the motion-language model (span corruption + text/motion translation)",
        "Stage 2: pretrain the motion-language model (span corruption + text/motion translation). Config keys may be overridden as --key=value (e.g. --max_steps=100 --data_dir=out/data --tokenizer_dir=runs/tokenizer_cpu/model). Resumes from RUN_DIR/checkpoints/last.",
        "pretrain_cpu",
        "motion-language model",
        _pretrain,
    ),
    StageCommand(
        "instruct",
        "stage 3: instruction-tune the motion-language model on the task mixture",
        "Stage 3: instruction-tune the motion-language model on the task mixture. Config keys may be overridden as --key=value (e.g. --max_steps=100 --data_dir=out/data --tokenizer_dir=runs/tokenizer_cpu/model). Resumes from RUN_DIR/checkpoints/last.",
        "instruct_cpu",
        "motion-language model",
        _instruct,
    ),
    StageCommand(
        "posefix",
        "train the pose editor (text-conditioned pose correction)",
        "Train the PoseFix pose editor on automatically labelled pose pairs, or finetune it on human texts in PoseFix's JSON format (--human_annotations=... --human_pair_ids=... --human_poses=... --init_from=MODEL_DIR). Config keys may be overridden as --key=value (e.g. --max_steps=100 --data_dir=out/data). Resumes from RUN_DIR/checkpoints/last.",
        "posefix_cpu",
        "pose editor",
        _posefix,
    ),
    StageCommand(
        "feedback",
        "train the correction writer (pose pair -> instruction)",
        "Train the PoseFix correction writer on automatically labelled pose pairs, or finetune it on human texts in PoseFix's JSON format (--human_annotations=... --human_pair_ids=... --human_poses=... --init_from=MODEL_DIR). Config keys may be overridden as --key=value. Resumes from RUN_DIR/checkpoints/last.",
        "feedback_cpu",
        "correction writer",
        _feedback,
    ),
)


def register(subparsers: argparse._SubParsersAction) -> None:
    for stage in STAGES:
        parser = subparsers.add_parser(stage.name, help=stage.help, description=stage.description)
        parser.add_argument("--config", default=stage.default_config, help="config file or shipped config name")
        parser.set_defaults(run=_runner(stage), accepts_overrides=True)


def _runner(stage: StageCommand) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        config_class, train = stage.load()
        model_dir = train(load_config(config_class, args.config, args.overrides))
        print(f"{stage.saved} saved to {model_dir}")
        return 0

    return run
