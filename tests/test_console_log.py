"""engine.console_log: what `motion-engine serve` shows when nobody configured logging."""

from __future__ import annotations

import subprocess
import sys

from engine_process import PROJECT_ROOT

SCRIPT = """
import logging
from engine.console_log import log_to_console
log_to_console()
log_to_console()  # a second call adds nothing (each line below would appear twice)
logging.getLogger("engine.server").info("motion-engine: serving on tcp://127.0.0.1:1")
logging.getLogger("engine.server").error("request r1 failed")
logging.getLogger("other").warning("not the engine's")
"""

CONFIGURED = """
import logging
logging.basicConfig(level=logging.ERROR, format="root %(message)s")
from engine.console_log import log_to_console
log_to_console()
logging.getLogger("engine.server").info("quiet")
logging.getLogger("engine.server").error("loud")
"""


def _run(script: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", script], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=60)


def test_info_goes_to_stdout_and_problems_to_stderr_once():
    done = _run(SCRIPT)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "motion-engine: serving on tcp://127.0.0.1:1\n"
    assert done.stderr.count("request r1 failed") == 1 and "ERROR engine.server" in done.stderr
    assert "not the engine's" in done.stderr  # Python's last-resort handler, untouched by us


def test_an_application_with_its_own_logging_keeps_it():
    done = _run(CONFIGURED)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "" and "quiet" not in done.stderr
    assert done.stderr.strip() == "root loud"
