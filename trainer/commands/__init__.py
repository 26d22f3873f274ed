"""Subcommands of `motion-train`, one module each (see trainer/cli.py)."""
