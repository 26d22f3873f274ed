"""Stage: train the frozen evaluators (text <-> motion, text <-> pose pair) used only for metrics.

Run: `motion-train evaluator --config evaluator_cpu [--key=value ...]` (a few minutes on 2 CPU cores).
Output: `run_dir/model/` with `text_motion/` and `text_pair/` (trainer.evaluate.evaluator_models
layout) and `manifest.json` (version, data version, validation scores); this directory is the
bundle's `evaluators` component. Logs: `run_dir/<kind>/metrics.jsonl`, TensorBoard, `curves.png`.

Loss: symmetric InfoNCE with a learned scale (PoseFix's BBC), with several positives per row:
Bandai has 70 label combinations, so a batch often holds two motions that one caption describes;
pushing those apart would teach the encoders noise (a caption j is a positive for motion i when it is
one of i's captions; a correction text for a pair when the texts are equal). Single process: the
models are tiny, so there is no data parallelism here.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from engine.formats.humanml3d import open_dataset
from trainer.evaluate.data import (
    caption_matches,
    data_version,
    load_captioned_split,
    load_pairs,
    pad_batch,
    random_crop,
)
from trainer.evaluate.embedding import embed_captioned
from trainer.evaluate.evaluator_models import EVALUATOR_VERSION, KINDS, Evaluator, EvaluatorConfig, build_vocab
from trainer.evaluate.metrics import batched_retrieval
from trainer.logging_utils import MetricsLogger, plot_curves, progress_bar


@dataclass
class EvaluatorTrainConfig:
    data_dir: str = "out/data"
    run_dir: str = "runs/evaluator"
    kinds: list[str] = field(default_factory=lambda: list(KINDS))
    batch_size: int = 64
    pair_batch_size: int = 128
    max_steps: int = 1200
    pair_max_steps: int = 1200
    learning_rate: float = 1e-3
    weight_decay: float = 1e-4
    word_dim: int = 128
    hidden: int = 256
    embed_dim: int = 256
    max_words: int = 20  # caption words kept (Guo et al.: 20)
    pair_max_words: int = 64  # correction texts are several sentences long
    eval_every: int = 200
    seed: int = 0

    def __post_init__(self) -> None:
        unknown = set(self.kinds) - set(KINDS)
        if unknown or not self.kinds:
            raise ValueError(f"kinds={self.kinds}; choose from {list(KINDS)}")
        if min(self.batch_size, self.pair_batch_size, self.max_steps, self.pair_max_steps) < 2:
            raise ValueError("batch sizes and step counts must be at least 2")


def multi_positive_nce(logits: torch.Tensor, positives: torch.Tensor) -> torch.Tensor:
    """Symmetric InfoNCE over `(B, B)` logits (rows texts, columns motions) where `positives` `(B, B)`
    bool marks every matching pair (the diagonal always): -log(sum_pos exp / sum_all exp), both ways."""
    masked = logits.masked_fill(~positives, float("-inf"))
    rows = torch.logsumexp(logits, 1) - torch.logsumexp(masked, 1)
    cols = torch.logsumexp(logits, 0) - torch.logsumexp(masked, 0)
    return 0.5 * (rows.mean() + cols.mean())


def cosine_lr(step: int, total: int, peak: float, warmup: int = 50) -> float:
    if step < warmup:
        return peak * (step + 1) / warmup
    return 0.5 * peak * (1 + math.cos(math.pi * min(1.0, (step - warmup) / max(1, total - warmup))))


def _motion_batch(data, picks, rng):
    crops = [random_crop(data.features[i], rng) for i in picks]
    texts = [data.captions[i][rng.integers(len(data.captions[i]))] for i in picks]
    return crops, texts


@torch.no_grad()
def validate_text_motion(model: Evaluator, data, seed: int = 0, repeats: int = 2) -> dict[str, float]:
    """R@1..3 over groups of 32, a hit when the retrieved motion's drawn caption equals the query text
    (the results table's rule: several Bandai motions share a caption)."""
    model.eval()
    rng = np.random.default_rng(seed)
    scores = []
    for _ in range(repeats):
        texts, motions, chosen = embed_captioned(model, data, rng)
        equal = np.array(chosen)[:, None] == np.array(chosen)[None, :]
        scores.append(batched_retrieval(texts, motions, rng, equal))
    model.train()
    return {f"val/{k}": float(np.mean([s[k] for s in scores])) for k in scores[0]}


@torch.no_grad()
def validate_text_pair(model: Evaluator, pairs, seed: int = 0) -> dict[str, float]:
    model.eval()
    texts = model.encode_text(pairs.texts).numpy()
    pair_emb = model.encode_pair(torch.from_numpy(pairs.pose_a), torch.from_numpy(pairs.pose_b)).numpy()
    equal = np.array(pairs.texts)[:, None] == np.array(pairs.texts)[None, :]
    result = batched_retrieval(texts, pair_emb, np.random.default_rng(seed), equal)
    model.train()
    return {f"val/{k}": v for k, v in result.items()}


def _train_loop(
    model: Evaluator, config: EvaluatorTrainConfig, steps: int, run_dir: Path, make_batch, validate
) -> dict[str, float]:
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay)
    # Every run starts afresh (minutes long, so no resume): an old log would mix two runs' curves.
    (run_dir / "metrics.jsonl").unlink(missing_ok=True)
    logger = MetricsLogger(run_dir)
    bar = progress_bar(steps, description=f"evaluator {model.config.kind}")
    scores: dict[str, float] = {}
    for step in range(1, steps + 1):
        for group in optimizer.param_groups:
            group["lr"] = cosine_lr(step - 1, steps, config.learning_rate)
        text_emb, other_emb, positives = make_batch()
        logits = model.log_scale.exp().clamp(max=100.0) * text_emb @ other_emb.T
        loss = multi_positive_nce(logits, positives)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        metrics = {"train/loss": loss.item(), "train/scale": model.log_scale.exp().item()}
        if step % config.eval_every == 0 or step == steps:
            scores = validate()
            metrics.update(scores)
            bar.write(f"step {step}: " + ", ".join(f"{k} {v:.3f}" for k, v in scores.items()))
        logger.log(step, metrics)
        bar.update(1)
        bar.set_postfix(loss=f"{loss.item():.3f}")
    bar.close()
    logger.close()
    plot_curves(run_dir)
    return scores


def train_text_motion(config: EvaluatorTrainConfig, out_dir: Path) -> dict[str, float]:
    train = load_captioned_split(config.data_dir, "train")
    val = load_captioned_split(config.data_dir, "val")

    mean, std = open_dataset(config.data_dir).mean_std()
    vocab = build_vocab([c for caps in train.captions for c in caps])
    torch.manual_seed(config.seed)
    model = Evaluator(
        EvaluatorConfig(
            kind="text_motion",
            vocab=vocab,
            max_words=config.max_words,
            word_dim=config.word_dim,
            hidden=config.hidden,
            embed_dim=config.embed_dim,
            feature_dim=train.features[0].shape[-1],
        )
    )
    model.set_normalization_(mean, std)
    rng = np.random.default_rng(config.seed)
    batch = min(config.batch_size, len(train.ids))

    def make_batch():
        picks = rng.choice(len(train.ids), batch, replace=False)
        crops, texts = _motion_batch(train, picks, rng)
        features, lengths = pad_batch(crops)
        positives = torch.from_numpy(caption_matches(texts, [train.captions[i] for i in picks]))
        return model.encode_text(texts), model.encode_motion(features, lengths), positives

    scores = _train_loop(
        model,
        config,
        config.max_steps,
        Path(config.run_dir) / "text_motion",
        make_batch,
        lambda: validate_text_motion(model, val, config.seed),
    )
    model.eval().save(out_dir / "text_motion")
    return scores


def train_text_pair(config: EvaluatorTrainConfig, out_dir: Path) -> dict[str, float]:
    train = load_pairs(config.data_dir, "train")
    val = load_pairs(config.data_dir, "val")
    torch.manual_seed(config.seed)
    model = Evaluator(
        EvaluatorConfig(
            kind="text_pair",
            vocab=build_vocab(train.texts),
            max_words=config.pair_max_words,
            word_dim=config.word_dim,
            hidden=config.hidden,
            embed_dim=config.embed_dim,
            num_joints=train.pose_a.shape[1],
        )
    )
    rng = np.random.default_rng(config.seed)
    batch = min(config.pair_batch_size, len(train.texts))
    pose_a, pose_b, texts = torch.from_numpy(train.pose_a), torch.from_numpy(train.pose_b), np.array(train.texts)

    def make_batch():
        picks = rng.choice(len(texts), batch, replace=False)
        chosen = texts[picks]
        positives = torch.from_numpy(chosen[:, None] == chosen[None, :])
        return model.encode_text(list(chosen)), model.encode_pair(pose_a[picks], pose_b[picks]), positives

    scores = _train_loop(
        model,
        config,
        config.pair_max_steps,
        Path(config.run_dir) / "text_pair",
        make_batch,
        lambda: validate_text_pair(model, val, config.seed),
    )
    model.eval().save(out_dir / "text_pair")
    return scores


def train_evaluators(config: EvaluatorTrainConfig) -> Path:
    """Train every kind in `config.kinds`; return the model directory (the bundle's `evaluators`)."""
    # One thread: on a shared, loaded CPU two OpenMP threads spin-wait on each other (15x slower here).
    torch.set_num_threads(1)
    run_dir = Path(config.run_dir)
    out_dir = run_dir / "model"
    out_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "config.json").write_text(json.dumps(asdict(config), indent=2))
    trainers = {"text_motion": train_text_motion, "text_pair": train_text_pair}
    validation = {kind: trainers[kind](config, out_dir) for kind in config.kinds}
    manifest_path = out_dir / "manifest.json"
    manifest = json.loads(manifest_path.read_text()) if manifest_path.is_file() else {"components": {}}
    manifest.update(
        {"version": EVALUATOR_VERSION, "data_dir": str(config.data_dir), "data_version": data_version(config.data_dir)}
    )
    for kind, scores in validation.items():
        manifest["components"][kind] = {"path": kind, "validation": scores}
    manifest_path.write_text(json.dumps(manifest, indent=1))
    return out_dir
