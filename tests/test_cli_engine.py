"""The model commands through a running engine (engine/commands/engine_link.py): a real
`motion-engine serve` process, the CLI as a real subprocess. Through the engine the CLI writes what
the local path writes, exits as it does, and never imports torch or transformers; with nothing
listening, or another bundle asked for, the models load in the CLI process.

The engine serves a tiny untrained bundle (tests/tiny_bundle.py) plus the shipped prompt gate.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from engine_process import PROJECT_ROOT, EngineProcess
from tiny_bundle import write_gated_tiny_bundle, write_tiny_bundle

from engine.bundle import default_bundle_dir
from engine.cli import main

WALK = default_bundle_dir().parent / "samples" / "dataset-2_walk_active_009.bvh"
HEAVY = ("torch", "transformers", "engine.models.motion_lm", "engine.models.pose_editor")


@pytest.fixture(scope="module")
def gated_bundle(tmp_path_factory) -> Path:
    """A tiny untrained bundle (fast to generate with) plus the shipped prompt gate."""
    return write_gated_tiny_bundle(tmp_path_factory.mktemp("gated"))


@pytest.fixture(scope="module")
def engine(gated_bundle):
    with EngineProcess("--bundle", str(gated_bundle), "--threads", "1") as process:
        yield process


def cli(*args: object) -> tuple[subprocess.CompletedProcess, set[str]]:
    """`python -X importtime -m engine.cli ARGS` in a fresh process: the finished process (its stderr
    without the import lines) and the names of every module it imported."""
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(PROJECT_ROOT))
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "engine.cli", *map(str, args)],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    lines = result.stderr.splitlines()
    imported = {line.rsplit("|", 1)[1].strip() for line in lines if line.startswith("import time:")}
    result.stderr = "\n".join(line for line in lines if not line.startswith("import time:"))
    assert "numpy" in imported, "the import lines were not parsed"
    return result, imported


def heavy(imported: set[str]) -> list[str]:
    return sorted(m for m in imported if any(m == h or m.startswith(h + ".") for h in HEAVY))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_generate_through_the_engine_writes_what_the_local_path_writes_without_torch(engine, gated_bundle, tmp_path):
    remote, local = tmp_path / "remote.npy", tmp_path / "local.npy"
    common = ("someone jogs forward", "--frames", 12, "--seed", 3, "--bundle", gated_bundle)
    result, imported = cli("generate", *common, "-o", remote, "--engine", engine.endpoint)
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"wrote {remote}: 12 frames at 20 fps (0.60 s)\n" and result.stderr == ""
    assert heavy(imported) == []  # so the engine made the motion: this process cannot run a model
    assert main(["generate", *map(str, common), "-o", str(local), "--no-engine"]) == 0
    np.testing.assert_allclose(np.load(remote), np.load(local), atol=1e-5)  # same seed, same model, same motion


def test_unknown_prompt_through_the_engine_exits_3_with_the_local_sentence(engine, gated_bundle, tmp_path, capsys):
    out = tmp_path / "x.npy"
    args = ("generate", "play the violin", "--frames", 8, "--bundle", gated_bundle, "-o", out)
    result, imported = cli(*args, "--engine", engine.endpoint)
    assert result.returncode == 3 and not out.exists() and heavy(imported) == []
    assert main([*map(str, args), "--no-engine"]) == 3
    assert result.stderr == capsys.readouterr().err.rstrip("\n")  # the same sentence
    assert result.stderr.startswith('motion-engine generate: "play the violin" is far from every motion')
    anyway, _ = cli(*args, "--engine", engine.endpoint, "--anyway")
    assert anyway.returncode == 0 and np.load(out).shape == (8, 22, 3)


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        (("caption", f"{WALK}:0-40"), None),
        (("predict", f"{WALK}:0-40", "--frames", 13, "--seed", 2), (41 + 13, 22, 3)),
        (("inbetween", f"{WALK}:0", f"{WALK}:60", "--frames", 21), (1 + 21 + 1, 22, 3)),
        (("edit-pose", f"{WALK}:30", "raise your left arm"), (1, 22, 3)),
    ],
)
def test_the_other_model_commands_go_through_the_engine(engine, gated_bundle, tmp_path, capsys, command, expected):
    out = tmp_path / "out.npy"
    output = () if expected is None else ("-o", out)
    result, imported = cli(*command, *output, "--bundle", gated_bundle, "--engine", engine.endpoint)
    assert result.returncode == 0 and result.stderr == "", result.stderr
    assert heavy(imported) == []
    if expected is None:  # the caption: the most likely one, so the same as the local path's
        assert main([*map(str, command), "--bundle", str(gated_bundle), "--no-engine"]) == 0
        assert result.stdout == capsys.readouterr().out and result.stdout.count("\n") == 1
    else:
        assert np.load(out).shape == expected and result.stdout.startswith(f"wrote {out}")


def test_with_nothing_listening_the_models_load_here(gated_bundle, tmp_path):
    out, address = tmp_path / "x.npy", f"tcp://127.0.0.1:{free_port()}"
    result, imported = cli(
        "generate", "walk", "-o", out, "--frames", 8, "--anyway", "--bundle", gated_bundle, "--engine", address
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr.startswith(
        f"motion-engine generate: no engine listens at {address}; loading the models here\n"
    )
    assert np.load(out).shape == (8, 22, 3) and "torch" in imported


def test_an_engine_with_another_bundle_is_not_used(engine, tmp_path, capsys):
    other = write_tiny_bundle(tmp_path / "other", components=("tokenizer", "language_model"))
    out = tmp_path / "x.npy"
    argv = ["generate", "walk", "-o", str(out), "--frames", "8", "--bundle", str(other), "--engine", engine.endpoint]
    assert main(argv) == 0
    assert "serves another bundle" in capsys.readouterr().err and np.load(out).shape == (8, 22, 3)


def test_an_engine_error_is_one_sentence_and_exit_status_2(engine, gated_bundle, tmp_path):
    """The tiny language model makes at most 20 codes (80 frames): the engine's refusal is printed."""
    out = tmp_path / "x.npy"
    args = ("generate", "someone jogs forward", "--frames", 400, "--bundle", gated_bundle, "-o", out)
    result, imported = cli(*args, "--engine", engine.endpoint)
    assert result.returncode == 2 and not out.exists() and heavy(imported) == []
    assert result.stderr.startswith("motion-engine generate: error: ") and len(result.stderr.splitlines()) == 1
