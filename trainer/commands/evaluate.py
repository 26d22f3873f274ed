"""`motion-train evaluate --bundle DIR --data DIR`: one results table (Markdown + JSON) for a bundle."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "evaluate",
        help="evaluate a model bundle on a dataset's test split and write a results table",
        description="Compute the literature's metrics (R-precision, FID, MM-Dist, diversity, MPJPE, ...) for "
        "every component the bundle has, with a 'Real' row (ground truth against itself) and "
        "95% confidence intervals over repeated runs; writes results.md and results.json.",
    )
    parser.add_argument("--bundle", type=Path, help="model bundle directory (manifest.json); optional")
    parser.add_argument("--data", type=Path, required=True, help="HumanML3D-layout data folder (motion-train data)")
    parser.add_argument(
        "--evaluators",
        type=Path,
        help="evaluator directory (motion-train evaluator); default: the bundle's 'evaluators'",
    )
    parser.add_argument("--tokenizer", type=Path, help="tokenizer directory, overriding the bundle's")
    parser.add_argument("--out", type=Path, default=Path("runs/evaluate"), help="output directory")
    parser.add_argument("--repeats", type=int, default=20, help="repeated runs for confidence intervals (20)")
    parser.add_argument("--split", default="test", help="data split to evaluate (test)")
    parser.add_argument(
        "--source",
        help="only the motions and pose pairs of this source in meta.jsonl, e.g. "
        "'procedural' or 'bandai' (default: all)",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from trainer.evaluate.run import EvaluationRequest, evaluate_bundle  # noqa: PLC0415 - the stage imports torch (~1.7 s); the CLI parser imports every command module

    request = EvaluationRequest(
        bundle=args.bundle,
        data=args.data,
        evaluators=args.evaluators,
        tokenizer=args.tokenizer,
        out=args.out,
        repeats=args.repeats,
        split=args.split,
        seed=args.seed,
        source=args.source,
    )
    markdown_path = evaluate_bundle(request)
    print(markdown_path.read_text(encoding="utf-8"))
    print(f"table written to {markdown_path} and {markdown_path.with_suffix('.json')}")
    return 0
