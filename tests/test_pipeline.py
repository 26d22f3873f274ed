"""`motion-train all`: stage arguments chain the runs, the bundle it writes is what the engine loads."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from engine.bundle import load_bundle
from engine.errors import InputError
from trainer.pipeline import STAGES, assemble_bundle, stage_arguments


def test_every_stage_names_a_registered_command_and_a_shipped_config():
    from trainer.cli import build_parser
    from trainer.config import resolve_config_path

    commands = build_parser()._subparsers._group_actions[0].choices
    for stage in STAGES:
        assert stage.name in commands, f"motion-train has no '{stage.name}' command"
        assert resolve_config_path(stage.config).is_file()


def test_later_stages_read_the_models_of_earlier_ones(tmp_path):
    instruct = next(s for s in STAGES if s.name == "instruct")
    arguments = stage_arguments(instruct, tmp_path / "data", tmp_path / "runs", {"instruct": ["--max_steps=5"]})
    assert f"--tokenizer_dir={tmp_path / 'runs' / 'tokenizer' / 'model'}" in arguments
    assert f"--init_dir={tmp_path / 'runs' / 'pretrain' / 'model'}" in arguments
    assert arguments[-1] == "--max_steps=5"


def test_assembled_bundle_loads_in_the_engine(tmp_path):
    models = {}
    for component in ("tokenizer", "pose_editor"):
        folder = tmp_path / "runs" / component / "model"
        folder.mkdir(parents=True)
        (folder / "config.json").write_text(json.dumps({"kind": component}))
        models[component] = folder
    bundle_dir = assemble_bundle(models, tmp_path / "bundle", {"note": "test"})
    bundle = load_bundle(bundle_dir)
    assert bundle.problems == []
    assert set(bundle.components) == {"tokenizer", "pose_editor"}
    assert bundle.components["tokenizer"].config == {"kind": "tokenizer"}
    with pytest.raises(InputError, match="missing"):
        assemble_bundle({"language_model": tmp_path / "nowhere"}, tmp_path / "bundle2", {})


def test_bad_pipeline_arguments_are_named(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "trainer.cli", "all", "--work", str(tmp_path), "--procedural", "0"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2 and "no data source" in result.stderr
    result = subprocess.run(
        [sys.executable, "-m", "trainer.cli", "all", "--work", str(tmp_path), "--set", "nostage:x=1"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2 and "STAGE:KEY=VALUE" in result.stderr


@pytest.mark.slow
def test_whole_pipeline_on_procedural_data_makes_a_servable_bundle(tmp_path):
    """About 8 minutes on a busy 2-core machine: every stage for a few steps, then the bundle."""
    tiny = [
        "tokenizer:max_steps=4",
        "tokenizer:preset=tiny",
        "tokenizer:batch_size=8",
        "tokenizer:window=32",
        "evaluator:max_steps=3",
        "evaluator:pair_max_steps=3",
        "pretrain:max_steps=3",
        "instruct:max_steps=3",
        "posefix:max_steps=3",
        "feedback:max_steps=3",
    ]
    command = [
        sys.executable,
        "-m",
        "trainer.cli",
        "all",
        "--work",
        str(tmp_path / "work"),
        "--bundle",
        str(tmp_path / "bundle"),
        "--procedural",
        "200",
    ]
    for item in tiny:
        command += ["--set", item]
    result = subprocess.run(command, capture_output=True, text=True, timeout=3600)
    assert result.returncode == 0, result.stderr[-3000:]
    bundle = load_bundle(tmp_path / "bundle")
    assert bundle.problems == []
    assert {"tokenizer", "language_model", "pose_editor", "correction_writer", "evaluators"} <= set(bundle.components)
    assert Path(tmp_path / "bundle" / "tokenizer" / "model.safetensors").is_file()
