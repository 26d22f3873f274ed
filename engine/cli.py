"""`motion-engine`: the engine's command line. Every subcommand lives in engine/commands/.

Each module listed in COMMAND_MODULES exposes `register(subparsers)`, which adds its parser and
sets `run=callable(args) -> int`. Heavy imports (torch, models) happen inside `run`, so that
`motion-engine --help` stays fast.
"""
from __future__ import annotations

import argparse
import importlib
import sys

from engine import __version__
from engine.errors import EngineError

COMMAND_MODULES: tuple[str, ...] = (
    "engine.commands.info",
    "engine.commands.describe",
    "engine.commands.serve",
    "engine.commands.keygen",
    "engine.commands.proxy",
    "engine.commands.convert",
    "engine.commands.preview",
    "engine.commands.demo",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="motion-engine",
        description="Motion Copilot inference engine: text-driven motion, pose editing, descriptions.",
    )
    parser.add_argument("--version", action="version", version=f"motion-engine {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module_name in COMMAND_MODULES:
        importlib.import_module(module_name).register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.run(args) or 0)
    except EngineError as error:
        print(f"motion-engine {args.command}: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
