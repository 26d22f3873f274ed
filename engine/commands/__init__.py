"""Subcommands of `motion-engine`, one module each (see engine/cli.py)."""
