"""`motion-engine`: the engine's command line. Every subcommand lives in engine/commands/.

Each module listed in COMMAND_MODULES exposes `register(subparsers)`, which adds its parser and
sets `run=callable(args) -> int`. Heavy imports (torch, models) happen inside `run`, so that
`motion-engine --help` stays fast.
"""

from __future__ import annotations

import argparse
import sys

from engine.command_line import build_parser as build_command_parser
from engine.command_line import run_command

COMMAND_MODULES: tuple[str, ...] = (
    "engine.commands.info",
    "engine.commands.describe",
    "engine.commands.serve",
    "engine.commands.ping",
    "engine.commands.keygen",
    "engine.commands.proxy",
    "engine.commands.convert",
    "engine.commands.preview",
    "engine.commands.demo",
    "engine.commands.generate",
    "engine.commands.caption",
    "engine.commands.predict",
    "engine.commands.inbetween",
    "engine.commands.edit_pose",
    "engine.commands.bench",
)


def build_parser() -> argparse.ArgumentParser:
    return build_command_parser(
        "motion-engine",
        "Motion Copilot inference engine: text-driven motion, pose editing, descriptions.",
        COMMAND_MODULES,
    )


def main(argv: list[str] | None = None) -> int:
    return run_command(build_parser(), argv)


if __name__ == "__main__":
    sys.exit(main())
