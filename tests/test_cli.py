"""The installed commands answer `--help` and `info` (they are the entry points users type first)."""

import json
import subprocess
import sys


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "engine.cli", *args], capture_output=True, text=True, timeout=120)


def test_engine_help_lists_commands():
    result = run_cli("--help")
    assert result.returncode == 0, result.stderr
    assert "info" in result.stdout


def test_engine_info_json_reports_skeleton_and_device():
    result = run_cli("info", "--json")
    assert result.returncode == 0, result.stderr
    info = json.loads(result.stdout)
    assert info["device"] in ("cpu", "cuda")
    assert len(info["skeleton"]["joints"]) == 22
    assert info["skeleton"]["fps"] == 20.0


def test_trainer_help():
    result = subprocess.run(
        [sys.executable, "-m", "trainer.cli", "--help"], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
