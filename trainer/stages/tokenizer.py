"""Stage 1: train the motion tokenizer (VQ-VAE) on HumanML3D-layout features.

Run alone (`motion-train tokenizer --config tokenizer_cpu`) or under
`torchrun --nproc_per_node N -m trainer.cli tokenizer ...`; the loop is the same. Resumes from
`run_dir/checkpoints/last` when it exists. Output: `run_dir/model/` (MotionTokenizer.save layout),
TensorBoard logs in `run_dir/tb`, `metrics.jsonl`, `curves.png`.
"""

from __future__ import annotations

import json
import math
from contextlib import nullcontext
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from engine.models.quantize import perplexity
from engine.models.tokenizer import RIC_SLICE, MotionTokenizer, TokenizerConfig, TokenizerOutput
from engine.motion.features import features_to_joints
from trainer.checkpoint import load_checkpoint, save_checkpoint
from trainer.datasets import RandomWindows, load_feature_split, whole_clips
from trainer.distributed import (
    DistributedContext,
    mean_across_ranks,
    replica_divergence,
    setup_distributed,
    teardown_distributed,
    unwrap_model,
    wrap_model,
)
from trainer.logging_utils import MetricsLogger, plot_curves, progress_bar


@dataclass
class TokenizerTrainConfig:
    data_dir: str = "out/data"
    run_dir: str = "runs/tokenizer"
    preset: str = "cpu"
    code_num: int | None = None  # override the preset's codebook size
    code_dim: int | None = None
    width: int | None = None
    quantizer: str | None = None
    lambda_root_path: float | None = None  # running-mean root-velocity error weight (engine.models.tokenizer)
    autoencoder: bool = False  # plain autoencoder baseline: skip quantisation
    window: int = 64
    batch_size: int = 64
    max_steps: int = 3000
    learning_rate: float = 2e-4
    weight_decay: float = 0.0
    warmup_steps: int = 200
    min_learning_rate: float = 1e-6
    eval_every: int = 500
    save_every: int = 500
    seed: int = 0
    device: str = "auto"
    mixed_precision: bool = False  # bf16 autocast on CUDA
    compile: bool = False  # torch.compile (GPU)

    def __post_init__(self) -> None:
        if self.window % 4:
            raise ValueError(f"window={self.window} must be a multiple of 4 (the temporal down-sampling)")
        if self.batch_size < 1 or self.max_steps < 1:
            raise ValueError("batch_size and max_steps must be positive")

    def model_config(self, nfeats: int) -> TokenizerConfig:
        overrides = {
            k: v
            for k, v in {
                "code_num": self.code_num,
                "code_dim": self.code_dim,
                "width": self.width,
                "quantizer": self.quantizer,
                "lambda_root_path": self.lambda_root_path,
            }.items()
            if v is not None
        }
        return TokenizerConfig.preset(self.preset, nfeats=nfeats, **overrides)


def learning_rate_at(step: int, config: TokenizerTrainConfig) -> float:
    """Linear warm-up, then cosine decay to `min_learning_rate` at `max_steps`."""
    if step < config.warmup_steps:
        return config.learning_rate * (step + 1) / config.warmup_steps
    progress = (step - config.warmup_steps) / max(1, config.max_steps - config.warmup_steps)
    return config.min_learning_rate + 0.5 * (config.learning_rate - config.min_learning_rate) * (
        1 + math.cos(math.pi * min(progress, 1.0))
    )


@torch.no_grad()
def evaluate_reconstruction(
    model: MotionTokenizer, clips: list[np.ndarray], device: torch.device, autoencoder: bool = False
) -> dict[str, float]:
    """MPJPE (mm) of joints recovered from reconstructed features, code usage and perplexity.

    `mpjpe_mm` is global (the root trajectory integrated from the reconstructed root velocities, so
    drift counts); `mpjpe_aligned_mm` subtracts the pelvis from both skeletons first, as MotionGPT's
    MRMetrics (align_root=True) does for the MPJPE that T2M-GPT/MotionGPT report.

    `clips`: normalised `(T, C)` float32 arrays, T a multiple of 4. `autoencoder`: the plain-AE
    baseline, whose decoder reads the encoder's latents directly (its codebook is never trained),
    so usage and perplexity are NaN for it.
    """
    model.eval()
    errors, aligned, all_ids = [], [], []
    mean, std = model.mean.cpu().numpy(), model.std.cpu().numpy()
    for clip in clips:
        features = torch.from_numpy(clip)[None].to(device)
        if autoencoder:
            reconstruction = model.decoder(model.encoder(features.permute(0, 2, 1))).permute(0, 2, 1)
        else:
            ids, _ = model.encode(features)
            reconstruction = model.decode(ids)
            all_ids.append(ids.flatten().cpu())
        truth = features_to_joints(clip * std + mean)
        guess = features_to_joints(reconstruction[0].cpu().numpy() * std + mean)
        errors.append(np.linalg.norm(truth - guess, axis=-1).mean())
        aligned.append(np.linalg.norm((truth - truth[:, :1]) - (guess - guess[:, :1]), axis=-1).mean())
    model.train()
    mpjpe = {"val/mpjpe_mm": float(np.mean(errors) * 1000.0), "val/mpjpe_aligned_mm": float(np.mean(aligned) * 1000.0)}
    if autoencoder:
        return {**mpjpe, "val/code_usage": float("nan"), "val/perplexity": float("nan")}
    ids = torch.cat(all_ids)
    return {
        **mpjpe,
        "val/code_usage": float(torch.unique(ids).numel() / model.config.code_num),
        "val/perplexity": float(perplexity(ids, model.config.code_num)),
    }


def _autocast(config: TokenizerTrainConfig, context: DistributedContext):
    if config.mixed_precision and context.device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return nullcontext()


def train_tokenizer(config: TokenizerTrainConfig) -> Path:
    """Train (or resume) and return the directory of the saved model."""
    context = setup_distributed(config.device)
    run_dir = Path(config.run_dir)
    try:
        train = load_feature_split(config.data_dir, "train", min_frames=config.window)
        val = load_feature_split(config.data_dir, "val", min_frames=4)
        torch.manual_seed(config.seed)  # identical initial weights on every rank
        model = MotionTokenizer(config.model_config(train.features[0].shape[-1]))
        model.set_normalization_(torch.from_numpy(train.mean), torch.from_numpy(train.std))
        if config.autoencoder:
            model.config.commit_beta = 0.0
        optimizer = torch.optim.AdamW(
            model.parameters(), lr=config.learning_rate, betas=(0.9, 0.99), weight_decay=config.weight_decay
        )
        resumed = load_checkpoint(run_dir, model, optimizer)
        step = 0
        if resumed is not None:
            step, extra = resumed
            model.quantizer.load_ema_state_(extra)
        if context.is_main:
            run_dir.mkdir(parents=True, exist_ok=True)
            (run_dir / "config.json").write_text(json.dumps(asdict(config), indent=2))
        trained = wrap_model(model, context)
        if config.compile:
            trained = torch.compile(trained)
        windows = RandomWindows(train, config.window, seed=config.seed * 1000 + context.rank + step)
        val_clips = whole_clips(val)
        logger = MetricsLogger(run_dir, enabled=context.is_main)
        bar = progress_bar(config.max_steps, initial=step, enabled=context.is_main, description="tokenizer")
        forward = _skip_quantizer if config.autoencoder else None
        while step < config.max_steps:
            for group in optimizer.param_groups:
                group["lr"] = learning_rate_at(step, config)
            batch = windows.sample(config.batch_size).to(context.device)
            with _autocast(config, context):
                output = forward(unwrap_model(trained), batch) if forward else trained(batch)
            optimizer.zero_grad(set_to_none=True)
            output.loss.backward()
            optimizer.step()
            step += 1
            metrics = {f"train/{k}": mean_across_ranks(v.item(), context) for k, v in output.losses.items()}
            metrics["train/loss"] = mean_across_ranks(output.loss.item(), context)
            metrics["train/perplexity"] = float(output.perplexity)
            bar.update(1)
            bar.set_postfix(loss=f"{metrics['train/loss']:.4f}", ppl=f"{metrics['train/perplexity']:.0f}")
            if step % config.eval_every == 0 or step == config.max_steps:
                if context.is_main:
                    metrics.update(evaluate_reconstruction(model, val_clips, context.device, config.autoencoder))
                    bar.write(
                        f"step {step}: val MPJPE {metrics['val/mpjpe_mm']:.1f} mm "
                        f"(root-aligned {metrics['val/mpjpe_aligned_mm']:.1f} mm), "
                        f"code usage {metrics['val/code_usage']:.0%}"
                    )
            logger.log(step, metrics)
            if context.is_main and (step % config.save_every == 0 or step == config.max_steps):
                save_checkpoint(run_dir, step, model, optimizer, extra_tensors=model.quantizer.ema_state())
        bar.close()
        divergence = replica_divergence(model, context)
        logger.log(step, {"ddp/replica_divergence": divergence, "ddp/world_size": context.world_size})
        logger.close()
        if context.is_main:
            model.eval().save(run_dir / "model")
            plot_curves(run_dir)
        return run_dir / "model"
    finally:
        teardown_distributed()


def _skip_quantizer(model: MotionTokenizer, features: torch.Tensor):
    """Forward pass of the plain-autoencoder baseline (same layers, no codebook)."""
    latents = model.encoder(features.permute(0, 2, 1))
    reconstruction = model.decoder(latents).permute(0, 2, 1)
    recon = F.smooth_l1_loss(reconstruction, features)
    velocity = F.smooth_l1_loss(reconstruction[..., RIC_SLICE], features[..., RIC_SLICE])
    loss = recon + model.config.lambda_velocity * velocity
    zero = torch.zeros((), device=features.device)
    return TokenizerOutput(
        reconstruction,
        torch.zeros(0, dtype=torch.long),
        loss,
        {"reconstruction": recon, "velocity": velocity, "commitment": zero},
        zero,
    )
