"""The end of a training step and of a run, shared by the pose-pair stages (pose editor, correction writer).

Each stage computes its own loss and validation metrics; what follows is the same for both: one clipped
optimiser step, the metrics logged and a checkpoint every `save_every` steps, and at the end the
replica-divergence check, the model saved under RUN_DIR/model and the curves plotted.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from trainer.checkpoint import save_checkpoint
from trainer.distributed import DistributedContext, replica_divergence
from trainer.logging_utils import MetricsLogger, plot_curves

GRADIENT_CLIP_NORM = 1.0


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
