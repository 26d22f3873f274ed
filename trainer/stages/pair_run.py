"""The start of a run, the end of a training step and the end of a run, shared by the pose-pair stages
(pose editor, correction writer).

Each stage builds its own model and computes its own loss and validation metrics; the rest is the same
for both: resume from the last checkpoint, write the config and text tokenizer beside it, one clipped
optimiser step, the metrics logged and a checkpoint every `save_every` steps, and at the end the
replica-divergence check, the model saved under RUN_DIR/model and the curves plotted.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch

from trainer.checkpoint import load_checkpoint, save_checkpoint
from trainer.distributed import DistributedContext, replica_divergence, wrap_model
from trainer.logging_utils import MetricsLogger, plot_curves, progress_bar

GRADIENT_CLIP_NORM = 1.0


def start_run(
    config: Any,
    run_dir: Path,
    model: Any,
    optimizer: torch.optim.Optimizer,
    context: DistributedContext,
    stage: str,
    summary: str,
) -> tuple[int, torch.nn.Module, np.random.Generator, MetricsLogger, Any]:
    """Resume `model` and `optimizer` from RUN_DIR/checkpoints/last if there is one, write the config and
    the model's text tokenizer (if any) beside it, print `summary`; returns (step, the model wrapped for
    DDP, the batch rng, the metrics logger, the progress bar)."""
    resumed = load_checkpoint(run_dir, model, optimizer)
    step = resumed[0] if resumed else 0
    if context.is_main:
        run_dir.mkdir(parents=True, exist_ok=True)
        (run_dir / "config.json").write_text(json.dumps(asdict(config), indent=2))
        if model.tokenizer is not None:
            model.tokenizer.save(run_dir / "tokenizer.json")
        print(f"{stage}: {summary}")
    rng = np.random.default_rng(config.seed * 1000 + context.rank + step)
    logger = MetricsLogger(run_dir, enabled=context.is_main)
    bar = progress_bar(config.max_steps, initial=step, enabled=context.is_main, description=stage)
    return step, wrap_model(model, context), rng, logger, bar


def apply_gradients(loss: torch.Tensor, model: torch.nn.Module, optimizer: torch.optim.Optimizer) -> None:
    """Backward pass, gradient norm clipped to GRADIENT_CLIP_NORM, one optimiser step."""
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), GRADIENT_CLIP_NORM)
    optimizer.step()


def log_and_checkpoint(
    step: int,
    metrics: dict[str, float],
    config: Any,
    logger: MetricsLogger,
    context: DistributedContext,
    run_dir: Path,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
) -> None:
    """Log this step's metrics; on the main rank save a checkpoint every `config.save_every` steps and at the end."""
    logger.log(step, metrics)
    if context.is_main and (step % config.save_every == 0 or step == config.max_steps):
        save_checkpoint(run_dir, step, model, optimizer)


def finish_run(step: int, run_dir: Path, model: Any, logger: MetricsLogger, context: DistributedContext) -> Path:
    """Log how far the replicas drifted apart, save the model (main rank) and plot the curves; RUN_DIR/model."""
    logger.log(step, {"ddp/replica_divergence": replica_divergence(model, context)})
    logger.close()
    if context.is_main:
        model.eval().save(run_dir / "model")
        plot_curves(run_dir)
    return run_dir / "model"
