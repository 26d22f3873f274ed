"""`motion-train`: one subcommand per training stage. Each lives in trainer/commands/.

Same registration scheme as engine/cli.py: each module in COMMAND_MODULES has `register(subparsers)`.
"""
from __future__ import annotations

import argparse
import importlib
import sys

from engine import __version__
from engine.errors import EngineError

COMMAND_MODULES: tuple[str, ...] = (
    "trainer.commands.data",
    "trainer.commands.tokenizer",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="motion-train", description="Motion Copilot trainer.")
    parser.add_argument("--version", action="version", version=f"motion-train {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module_name in COMMAND_MODULES:
        importlib.import_module(module_name).register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    # Stages take config overrides as --key=value; they are checked against the stage's config.
    args, extra = parser.parse_known_args(argv)
    if extra and not getattr(args, "accepts_overrides", False):
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    args.overrides = extra
    try:
        return int(args.run(args) or 0)
    except EngineError as error:
        print(f"motion-train {args.command}: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
