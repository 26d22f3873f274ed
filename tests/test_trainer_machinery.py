"""Trainer machinery: typed config overrides, atomic resumable checkpoints, and 2-process DDP in sync."""

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch

from engine.errors import InputError
from trainer.checkpoint import load_checkpoint, save_checkpoint
from trainer.config import load_config


@dataclass
class ToyConfig:
    steps: int = 10
    rate: float = 0.1
    name: str = "a"
    flag: bool = False
    width: int | None = None


def test_overrides_are_typed_and_unknown_keys_fail(tmp_path):
    path = tmp_path / "toy.toml"
    path.write_text('steps = 3\nname = "from-file"\n')
    config = load_config(ToyConfig, path, ["--rate=0.5", "--flag=true", "--width=7"])
    assert (config.steps, config.rate, config.name, config.flag, config.width) == (3, 0.5, "from-file", True, 7)
    with pytest.raises(InputError, match="not a field"):
        load_config(ToyConfig, path, ["--stepz=4"])
    with pytest.raises(InputError, match="type int"):
        load_config(ToyConfig, path, ["--steps=many"])
    path.write_text("unknown = 1\n")
    with pytest.raises(InputError, match="unknown keys"):
        load_config(ToyConfig, path, [])


def test_checkpoint_round_trip_restores_weights_optimiser_and_step(tmp_path):
    torch.manual_seed(0)
    model = torch.nn.Linear(3, 2)
    optimizer = torch.optim.AdamW(model.parameters(), lr=0.1)
    model(torch.randn(4, 3)).sum().backward()
    optimizer.step()
    save_checkpoint(tmp_path, 7, model, optimizer, extra_tensors={"ema": torch.arange(3.0)})
    fresh = torch.nn.Linear(3, 2)
    fresh_optimizer = torch.optim.AdamW(fresh.parameters(), lr=0.1)
    step, extra = load_checkpoint(tmp_path, fresh, fresh_optimizer)
    assert step == 7 and torch.equal(extra["ema"], torch.arange(3.0))
    assert torch.equal(fresh.weight, model.weight)
    assert torch.equal(
        fresh_optimizer.state_dict()["state"][0]["exp_avg"], optimizer.state_dict()["state"][0]["exp_avg"]
    )
    assert not (tmp_path / "checkpoints" / "last.tmp").exists()


def test_loading_a_checkpoint_of_another_model_names_the_problem(tmp_path):
    save_checkpoint(tmp_path, 1, torch.nn.Linear(3, 2))
    with pytest.raises(InputError, match="does not match"):
        load_checkpoint(tmp_path, torch.nn.Linear(5, 2))


def write_feature_folder(root: Path, clips: int = 12, frames: int = 80, seed: int = 0) -> Path:
    """A HumanML3D-layout folder of smooth random features (enough for the loop, not a real motion)."""
    rng = np.random.default_rng(seed)
    (root / "new_joint_vecs").mkdir(parents=True)
    ids = [f"{k:06d}" for k in range(clips)]
    time = np.linspace(0, 2 * np.pi, frames)[:, None]
    all_features = []
    for clip_id in ids:
        features = np.sin(time * rng.uniform(0.5, 3, 263) + rng.uniform(0, 6, 263)).astype(np.float32)
        np.save(root / "new_joint_vecs" / f"{clip_id}.npy", features)
        all_features.append(features)
    stacked = np.concatenate(all_features)
    np.save(root / "Mean.npy", stacked.mean(0))
    np.save(root / "Std.npy", stacked.std(0) + 1e-3)
    (root / "train.txt").write_text("\n".join(ids[:-3]) + "\n")
    (root / "val.txt").write_text("\n".join(ids[-3:]) + "\n")
    (root / "test.txt").write_text("\n".join(ids[-3:]) + "\n")
    (root / "all.txt").write_text("\n".join(ids) + "\n")
    return root


def _train_command(data: Path, run: Path, steps: int) -> list[str]:
    return [
        "tokenizer",
        "--config=tokenizer_cpu",
        f"--data_dir={data}",
        f"--run_dir={run}",
        "--preset=tiny",
        f"--max_steps={steps}",
        "--batch_size=4",
        "--window=32",
        "--eval_every=3",
        "--save_every=3",
        "--warmup_steps=1",
        "--learning_rate=1e-3",
    ]


def test_tokenizer_stage_trains_logs_and_resumes(tmp_path):
    from trainer.cli import main

    data = write_feature_folder(tmp_path / "data")
    run = tmp_path / "run"
    assert main(_train_command(data, run, 3)) == 0
    assert (run / "model" / "model.safetensors").is_file() and (run / "curves.png").is_file()
    assert list((run / "tb").glob("events.*"))
    assert main(_train_command(data, run, 6)) == 0  # resumes at step 3, runs 3 more
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    rows = [r for r in rows if "train/loss" in r]
    assert [r["step"] for r in rows] == [1, 2, 3, 4, 5, 6]
    assert "val/mpjpe_mm" in rows[2] and 0 <= rows[5]["val/code_usage"] <= 1


def test_two_processes_under_torchrun_stay_in_sync(tmp_path):
    data = write_feature_folder(tmp_path / "data")
    run = tmp_path / "run"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node=2",
        "-m",
        "trainer.cli",
        *_train_command(data, run, 4),
        "--device=cpu",
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    final = rows[-1]
    assert final["ddp/world_size"] == 2
    # every parameter and codebook entry is identical on both ranks after 4 steps on different crops
    assert final["ddp/replica_divergence"] == 0.0
    assert [r["step"] for r in rows[:-1]] == [1, 2, 3, 4]
