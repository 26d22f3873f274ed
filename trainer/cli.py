"""`motion-train`: one subcommand per training stage. Each lives in trainer/commands/.

Same registration scheme as engine/cli.py: each module in COMMAND_MODULES has `register(subparsers)`.
"""

from __future__ import annotations

import argparse
import sys

from engine.command_line import build_parser as build_command_parser
from engine.command_line import run_command

COMMAND_MODULES: tuple[str, ...] = (
    "trainer.commands.data",
    "trainer.commands.stages",
    "trainer.commands.evaluate",
    "trainer.commands.prompt_gate",
    "trainer.commands.all",
)


def build_parser() -> argparse.ArgumentParser:
    return build_command_parser("motion-train", "Motion Copilot trainer.", COMMAND_MODULES)


def main(argv: list[str] | None = None) -> int:
    return run_command(build_parser(), argv)


if __name__ == "__main__":
    sys.exit(main())
