"""Resumable training checkpoints: weights in safetensors, optimiser state via weights-only torch.save.

Layout of a run directory:
    run_dir/config.json              the resolved training config
    run_dir/checkpoints/last/        model.safetensors + training_state.pt (+ extra.safetensors)
    run_dir/metrics.jsonl, tb/       logs (see trainer/logging_utils.py)
The optimiser state is nested dicts of tensors and numbers, which safetensors cannot hold; it is
written with torch.save and read back with `weights_only=True`, so loading never runs pickled code.
A checkpoint is written to a temporary folder and renamed, so a crash never leaves half of one.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from engine.errors import InputError

LAST = "last"


def checkpoint_dir(run_dir: str | Path, name: str = LAST) -> Path:
    return Path(run_dir) / "checkpoints" / name


def save_checkpoint(
    run_dir: str | Path,
    step: int,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer | None = None,
    scheduler: Any = None,
    extra_tensors: dict[str, torch.Tensor] | None = None,
    extra_state: dict[str, Any] | None = None,
    name: str = LAST,
) -> Path:
    """Write model weights, optimiser/scheduler state, RNG state and `step` atomically."""
    final = checkpoint_dir(run_dir, name)
    staging = final.with_name(final.name + ".tmp")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    save_file({k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}, staging / "model.safetensors")
    if extra_tensors:
        save_file({k: v.detach().contiguous().cpu() for k, v in extra_tensors.items()}, staging / "extra.safetensors")
    state = {
        "step": step,
        "optimizer": optimizer.state_dict() if optimizer is not None else None,
        "scheduler": scheduler.state_dict() if scheduler is not None else None,
        "torch_rng": torch.get_rng_state(),
    }
    torch.save(state, staging / "training_state.pt")
    (staging / "meta.json").write_text(json.dumps({"step": step, **(extra_state or {})}, indent=2))
    shutil.rmtree(final, ignore_errors=True)
    staging.rename(final)
    return final


def load_checkpoint(
    run_dir: str | Path,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer | None = None,
    scheduler: Any = None,
    name: str = LAST,
) -> tuple[int, dict[str, torch.Tensor]] | None:
    """Restore the latest checkpoint into the given objects. Returns (step, extra tensors) or None."""
    folder = checkpoint_dir(run_dir, name)
    if not (folder / "model.safetensors").is_file():
        return None
    try:
        model.load_state_dict(load_file(folder / "model.safetensors"), strict=True)
        state = torch.load(folder / "training_state.pt", map_location="cpu", weights_only=True)
    except (RuntimeError, OSError) as error:
        raise InputError(
            f"checkpoint {folder} does not match this model/config ({error}); "
            "use a new --run-dir or the config the run was started with"
        ) from error
    if optimizer is not None and state["optimizer"] is not None:
        optimizer.load_state_dict(state["optimizer"])
    if scheduler is not None and state["scheduler"] is not None:
        scheduler.load_state_dict(state["scheduler"])
    torch.set_rng_state(state["torch_rng"])
    extra_path = folder / "extra.safetensors"
    extra = load_file(extra_path) if extra_path.is_file() else {}
    return int(state["step"]), extra
