"""The training loop shared by the motion-language-model stages (pretrain, instruct).

A plain loop over batches drawn by the stage (`draw(rng, batch_size) -> list[Example]`), with the
shared machinery: DDP via trainer.distributed, resumable checkpoints (trainer.checkpoint), TensorBoard
+ JSONL logs and a progress bar (trainer.logging_utils). The loss is T5's token cross-entropy,
also reported per example kind (e.g. span corruption vs supervised) so each branch is visible.

The run directory keeps `init/` (the model as first built, with its tokenizer, so that a resumed run
rebuilds the same vocabulary) and ends with `model/`, a MotionLM directory.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from engine.errors import InputError
from engine.models.motion_lm import MotionLM
from trainer.checkpoint import load_checkpoint, save_checkpoint
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
from trainer.stages.lm_data import Example, collate, load_entries, tokenizer_code_num
from trainer.stages.tokenizer import learning_rate_at

Draw = Callable[[np.random.Generator, int], list[Example]]


@dataclass
class LMTrainConfig:
    """Fields every language-model stage has."""

    data_dir: str = "out/data"
    tokenizer_dir: str = "runs/tokenizer_cpu/model"  # the frozen motion tokenizer
    run_dir: str = "runs/lm"
    code_cache: str = ""  # folder of cached motion codes; empty: RUN_DIR/code_cache
    max_motion_codes: int = 50  # longer clips are cropped (50 codes = 200 frames)
    max_input_tokens: int = 256
    max_target_tokens: int = 128
    batch_size: int = 16  # MotionGPT stages 2 and 3
    max_steps: int = 2000
    learning_rate: float = 2e-4
    weight_decay: float = 0.0
    warmup_steps: int = 100
    min_learning_rate: float = 1e-6
    eval_every: int = 250
    eval_examples: int = 64
    save_every: int = 250
    seed: int = 0
    device: str = "auto"
    threads: int = 0  # CPU intra-op threads; 0 keeps torch's default (see bench_motion_lm.py)
    # Share of captioned prompts whose caption words are taken out of the prompt, so that a model
    # with a text prefix (engine.models.text_prefix) learns to follow the sentence encoder alone.
    caption_dropout: float = 0.0
    # Clips are drawn with probability (clips of their action)^-balance_actions (lm_data.action_weights):
    # 0 every clip alike, 1 every action alike.
    balance_actions: float = 0.0

    def __post_init__(self) -> None:
        for name in ("batch_size", "max_steps", "max_motion_codes", "eval_every", "save_every"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name}={getattr(self, name)} must be positive")


class TiedWeightsView(torch.nn.Module):
    """What trainer.checkpoint saves for a T5: its state dict with each storage once.

    safetensors refuses tensors that share memory and T5 ties `shared`, both `embed_tokens` and
    (from scratch) `lm_head`; loading one key of a tied group fills them all.
    """

    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        self._model = [model]  # a list, so the model is not registered as a submodule (no key prefix)

    def state_dict(self, *args, **kwargs):
        seen, unique = set(), {}
        for key, value in self._model[0].state_dict().items():
            if value.data_ptr() not in seen:
                seen.add(value.data_ptr())
                unique[key] = value
        return unique

    def load_state_dict(self, state_dict, strict: bool = True, assign: bool = False):
        expected = set(self.state_dict())
        if set(state_dict) != expected:
            raise RuntimeError(f"checkpoint keys differ from the model's: {sorted(set(state_dict) ^ expected)[:4]}")
        return self._model[0].load_state_dict(state_dict, strict=False)


def code_cache_dir(config: LMTrainConfig) -> Path:
    """Where motion codes are cached (share one between pretrain and instruct with --code_cache)."""
    return Path(config.code_cache) if config.code_cache else Path(config.run_dir) / "code_cache"


def apply_threads(config: LMTrainConfig) -> None:
    """Set torch's intra-op threads first thing (code caching runs the tokenizer before training)."""
    if config.threads > 0:
        torch.set_num_threads(config.threads)


def prepare_lm(run_dir: Path, build: Callable[[], MotionLM], context: DistributedContext) -> MotionLM:
    """The run's model: `run_dir/init` when it exists (resume), else `build()` saved there by rank 0."""
    init = run_dir / "init"
    if not (init / "motion_lm.json").is_file():
        if context.is_main:
            build().save(init)
        if context.is_distributed:
            torch.distributed.barrier()
    lm = MotionLM.load(init, device=context.device)
    return lm


def token_losses(logits: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(mean loss over all target tokens, `(B,)` per-example mean) of T5 cross-entropy."""
    per_token = F.cross_entropy(logits.float().transpose(1, 2), labels, ignore_index=-100, reduction="none")
    valid = (labels != -100).float()
    per_example = (per_token * valid).sum(1) / valid.sum(1).clamp(min=1)
    return (per_token * valid).sum() / valid.sum().clamp(min=1), per_example


@torch.no_grad()
def evaluate(
    model: torch.nn.Module,
    examples: list[Example],
    pad_id: int,
    device: torch.device,
    batch_size: int,
    sentences: Callable | None = None,
) -> dict[str, float]:
    """Validation loss overall and per kind."""
    model.eval()
    sums, counts = defaultdict(float), Counter()
    for start in range(0, len(examples), batch_size):
        chunk = examples[start : start + batch_size]
        batch = {k: v.to(device) for k, v in collate(chunk, pad_id, sentences).items()}
        _, per_example = token_losses(model(**batch).logits, batch["labels"])
        for example, loss in zip(chunk, per_example.tolist()):
            sums[example.kind] += loss
            counts[example.kind] += 1
    model.train()
    metrics = {f"val/loss_{kind}": sums[kind] / counts[kind] for kind in counts}
    metrics["val/loss"] = sum(sums.values()) / max(1, sum(counts.values()))
    return metrics


def train_lm(
    config: LMTrainConfig,
    lm: MotionLM,
    draw: Draw,
    val_examples: list[Example],
    context: DistributedContext,
    stage: str,
) -> Path:
    """Train `lm` on batches from `draw`; resumable; returns `run_dir/model`."""
    run_dir = Path(config.run_dir)
    model = lm.trainable()
    sentences = partial(lm.sentence_vectors, remember=True) if lm.text_prefix is not None else None
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay)
    resumed = load_checkpoint(run_dir, TiedWeightsView(model), optimizer)
    step = resumed[0] if resumed is not None else 0
    if context.is_main:
        (run_dir / "config.json").write_text(json.dumps({"stage": stage, **asdict(config)}, indent=2))
    trained = wrap_model(model, context)
    rng = np.random.default_rng([config.seed, context.rank, step])  # new stream per rank and per resume
    pad_id = lm.tokenizer.pad_token_id
    logger = MetricsLogger(run_dir, enabled=context.is_main)
    bar = progress_bar(config.max_steps, initial=step, enabled=context.is_main, description=stage)
    seen = Counter()
    if context.is_main and step == 0 and val_examples:  # the starting point of the validation curve
        logger.log(0, evaluate(model, val_examples, pad_id, context.device, config.batch_size, sentences))
    model.train()
    while step < config.max_steps:
        for group in optimizer.param_groups:
            group["lr"] = learning_rate_at(step, config)
        examples = draw(rng, config.batch_size)
        batch = {k: v.to(context.device) for k, v in collate(examples, pad_id, sentences).items()}
        loss, per_example = token_losses(trained(**batch).logits, batch["labels"])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        step += 1
        kinds = Counter(e.kind for e in examples)
        seen.update(kinds)
        metrics = {"train/loss": mean_across_ranks(loss.item(), context), "train/lr": optimizer.param_groups[0]["lr"]}
        for kind in kinds:
            values = [float(v) for e, v in zip(examples, per_example.detach()) if e.kind == kind]
            metrics[f"train/loss_{kind}"] = float(np.mean(values))
            metrics[f"train/examples_{kind}"] = float(seen[kind])
        bar.update(1)
        bar.set_postfix(loss=f"{metrics['train/loss']:.3f}")
        if context.is_main and (step % config.eval_every == 0 or step == config.max_steps) and val_examples:
            metrics.update(evaluate(model, val_examples, pad_id, context.device, config.batch_size, sentences))
            bar.write(f"step {step}: val loss {metrics['val/loss']:.3f}")
        logger.log(step, metrics)
        if context.is_main and (step % config.save_every == 0 or step == config.max_steps):
            save_checkpoint(run_dir, step, TiedWeightsView(model), optimizer, extra_state={"examples": dict(seen)})
    bar.close()
    logger.log(
        step, {"ddp/replica_divergence": replica_divergence(model, context), "ddp/world_size": context.world_size}
    )
    logger.close()
    if context.is_main:
        unwrap_model(trained).eval()
        lm.save(run_dir / "model")
        plot_curves(run_dir, ["train/loss", "val/loss", "train/lr"])  # one panel per key: keep it to these
    return run_dir / "model"


def run_lm_stage(
    config: LMTrainConfig,
    stage: str,
    make_lm: Callable[[list, int], MotionLM],
    code_mismatch: Callable[[MotionLM, int], str],
    make_examples: Callable[[MotionLM, list], Any],
) -> Path:
    """Run one language-model stage (or resume it): load the motion codes of the train and val splits,
    build or resume the model, check it knows the tokenizer's codes, draw examples, train.

    make_lm(train_entries, code_num) builds a fresh model; code_mismatch(lm, code_num) is the sentence
    for a model built for other codes; make_examples(lm, entries) has a `draw(rng, batch_size)` method.
    Returns the saved model directory.
    """
    context = setup_distributed(config.device)
    apply_threads(config)
    try:
        run_dir = Path(config.run_dir)
        cache = code_cache_dir(config)
        train = load_entries(config.tokenizer_dir, config.data_dir, "train", cache)
        code_num = tokenizer_code_num(config.tokenizer_dir)
        lm = prepare_lm(run_dir, lambda: make_lm(train, code_num), context)
        if lm.vocab.code_num != code_num:
            raise InputError(code_mismatch(lm, code_num))
        examples = make_examples(lm, train)
        if lm.text_prefix is not None:  # embed every caption once, in batches, before the clock starts
            lm.sentence_vectors(sorted({c for e in train for c in e.captions}), remember=True)
        try:
            val = make_examples(lm, load_entries(config.tokenizer_dir, config.data_dir, "val", cache))
            val_examples = val.draw(np.random.default_rng(12345), config.eval_examples)
        except InputError:
            val_examples = []
        return train_lm(config, lm, examples.draw, val_examples, context, stage)
    finally:
        teardown_distributed()
