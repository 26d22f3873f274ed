"""Console output of the engine's log records, for `motion-engine serve` and other front ends.

Engine modules report through `logging.getLogger(__name__)`; nothing reaches a terminal until an
application adds a handler. `log_to_console` is the one the engine server installs for itself
when nobody configured logging (engine/server.py, `EngineServer.serve_forever`).
"""

from __future__ import annotations

import logging
import sys


def log_to_console() -> None:
    """Show the engine's log records on the console when the application configured no logging.

    `motion-engine serve` relies on this: info lines (the start-up line "motion-engine: serving on
    <endpoint>", which launchers such as tests/engine_process.py read) go to stdout, warnings and
    errors with their tracebacks to stderr. An application or test run with its own handlers
    (root or "engine") keeps them and nothing is added.
    """
    package = logging.getLogger("engine")
    if package.hasHandlers():
        return
    info = logging.StreamHandler(sys.stdout)
    info.addFilter(lambda record: record.levelno < logging.WARNING)
    info.setFormatter(logging.Formatter("%(message)s"))
    problems = logging.StreamHandler(sys.stderr)
    problems.setLevel(logging.WARNING)
    problems.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    package.addHandler(info)
    package.addHandler(problems)
    package.setLevel(logging.INFO)
