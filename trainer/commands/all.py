"""`motion-train all`: raw data -> every stage -> a model bundle that `motion-engine serve --bundle` loads."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from engine.errors import InputError
from trainer.pipeline import STAGES, run_pipeline


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "all",
        help="run the whole pipeline from raw data to a model bundle",
        description="Build the data, train tokenizer, evaluators, motion-language model (pretrain + instruct), "
        "pose editor and correction writer with the shipped CPU configs, and assemble a bundle. "
        "Re-running continues: the data is kept and each stage resumes from its checkpoint.",
    )
    parser.add_argument("--work", default="out/pipeline", help="folder for the data and the runs")
    parser.add_argument("--bundle", default="out/bundle", help="where the bundle is written")
    parser.add_argument("--bandai", help="Bandai-Namco dataset-2 folder")
    parser.add_argument("--humanml3d", help="HumanML3D or KIT-ML folder")
    parser.add_argument("--procedural", type=int, default=1000, help="procedural motions to add (default 1000)")
    parser.add_argument("--skip", default="", help="comma-separated stages to leave out (e.g. pretrain,feedback)")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="STAGE:KEY=VALUE",
        help="config override for one stage, e.g. --set tokenizer:max_steps=100 (repeatable)",
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    data_arguments = ["--procedural", str(args.procedural)]
    if args.bandai:
        data_arguments += ["--bandai", args.bandai]
    if args.humanml3d:
        data_arguments += ["--humanml3d", args.humanml3d]
    if not (args.bandai or args.humanml3d) and args.procedural <= 0:
        raise InputError("no data source: give --bandai DIR and/or --humanml3d DIR, or --procedural N > 0")
    names = {s.name for s in STAGES}
    skip = {s for s in args.skip.split(",") if s}
    overrides: dict[str, list[str]] = {}
    for item in args.set:
        stage, _, assignment = item.partition(":")
        if stage not in names or "=" not in assignment:
            raise InputError(f"--set {item}: expected STAGE:KEY=VALUE with STAGE one of {sorted(names)}")
        overrides.setdefault(stage, []).append(f"--{assignment}")
    if skip - names:
        raise InputError(f"--skip names unknown stages {sorted(skip - names)}; stages: {sorted(names)}")
    bundle = run_pipeline(Path(args.work), Path(args.bundle), data_arguments, overrides, skip, sys.executable)
    print(f"bundle written to {bundle}; serve it with `motion-engine serve --bundle {bundle}`")
    return 0
