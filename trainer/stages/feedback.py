"""Feedback stage: train the correction writer (engine/models/correction_writer.py).

Run `motion-train feedback --config feedback_cpu [--key=value ...]`, alone or under torchrun.
Same data as the posefix stage (trainer/stages/pair_data.py): automatic pairs with left/right
flips for pretraining, or human pairs in PoseFix's JSON format plus `init_from` for finetuning.
The word-level tokenizer is trained on the training texts (and their flips) at the start and kept
in `run_dir/tokenizer.json` so a resumed run uses the same ids. Output: `run_dir/model/`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from engine.models.correction_writer import CorrectionWriter, CorrectionWriterConfig
from engine.models.text_encoder import WordTokenizer
from trainer.distributed import (
    mean_across_ranks,
    setup_distributed,
    teardown_distributed,
    unwrap_model,
)
from trainer.evaluate.text_metrics import bleu, rouge_l
from trainer.stages import pair_data
from trainer.stages.pair_run import apply_gradients, finish_run, log_and_checkpoint, start_run
from trainer.stages.posefix import PairTensors, learning_rate_at


@dataclass
class FeedbackTrainConfig:
    data_dir: str = "out/data"
    run_dir: str = "runs/feedback"
    extra_pairs: int = 20000
    max_gap: int = 10
    flip: bool = True
    val_pairs: int = 512  # validation pairs used (the first ones of the val split)
    human_annotations: str = ""
    human_pair_ids: str = ""
    human_poses: str = ""
    human_split_ids: str = ""
    init_from: str = ""
    d_model: int = 256
    layers: int = 3
    heads: int = 4
    ff: int = 512
    joint_tokens: bool = True
    batch_size: int = 64
    max_steps: int = 3000
    learning_rate: float = 3e-4
    weight_decay: float = 1e-4
    eval_every: int = 500
    eval_pairs: int = 64  # validation pairs decoded greedily for BLEU/ROUGE at each eval
    save_every: int = 500
    seed: int = 0
    device: str = "auto"
    torch_threads: int = 0

    def __post_init__(self) -> None:
        if self.batch_size < 2 or self.max_steps < 1:
            raise ValueError("batch_size must be >= 2 (batch norm) and max_steps >= 1")
        human = [self.human_annotations, self.human_pair_ids, self.human_poses]
        if any(human) and not all(human):
            raise ValueError("finetuning needs all of human_annotations, human_pair_ids and human_poses")


def build_writer(config: FeedbackTrainConfig, texts: list[str], run_dir: Path) -> CorrectionWriter:
    if config.init_from:
        return CorrectionWriter.load(config.init_from).train()
    saved = run_dir / "tokenizer.json"
    tokenizer = WordTokenizer.load(saved) if saved.is_file() else WordTokenizer.train(texts)
    model_config = CorrectionWriterConfig(
        vocab_size=tokenizer.vocab_size,
        d_model=config.d_model,
        layers=config.layers,
        heads=config.heads,
        ff=config.ff,
        joint_tokens=config.joint_tokens,
    )
    return CorrectionWriter(model_config, tokenizer)


@torch.no_grad()
def evaluate_writer(
    model: CorrectionWriter, data: PairTensors, device: torch.device, eval_pairs: int
) -> dict[str, float]:
    """Validation cross-entropy (all pairs) and greedy BLEU-4 / ROUGE-L on the first `eval_pairs`."""
    model.eval()
    losses = []
    for start in range(0, len(data.texts), 256):
        stop = min(start + 256, len(data.texts))
        texts = [data.texts[i][0] for i in range(start, stop)]
        losses.append(
            model(data.sixd_a[start:stop].to(device), data.sixd_b[start:stop].to(device), texts).item() * (stop - start)
        )
    n = min(eval_pairs, len(data.texts))
    generated = model.generate(data.sixd_a[:n].to(device), data.sixd_b[:n].to(device)) if n else []
    model.train()
    return {
        "val/cross_entropy": sum(losses) / max(1, len(data.texts)),
        "val/bleu4": bleu(generated, data.texts[:n]) if n else 0.0,
        "val/rouge_l": rouge_l(generated, data.texts[:n], beta=1.0) if n else 0.0,
    }


def train_feedback(config: FeedbackTrainConfig) -> Path:
    """Train (or resume, or finetune) the correction writer; returns the saved model directory."""
    context = setup_distributed(config.device)
    run_dir = Path(config.run_dir)
    if config.torch_threads > 0:
        torch.set_num_threads(config.torch_threads)
    try:
        train_pairs, val_pairs = pair_data.load_stage_pairs(config)
        torch.manual_seed(config.seed)
        model = build_writer(config, [t for options in train_pairs.texts for t in options], run_dir)
        train, val = PairTensors.from_pairs(train_pairs), PairTensors.from_pairs(val_pairs)
        model.to(context.device)
        optimizer = torch.optim.AdamW(model.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay)
        summary = f"{len(train.texts)} training pairs, {len(val.texts)} validation pairs, vocabulary {model.tokenizer.vocab_size}"
        step, trained, rng, logger, bar = start_run(config, run_dir, model, optimizer, context, "feedback", summary)
        while step < config.max_steps:
            for group in optimizer.param_groups:
                group["lr"] = learning_rate_at(step, config)
            a, b, texts = train.batch(rng.integers(0, len(train.texts), config.batch_size), rng, context.device)
            loss = trained(a, b, texts)
            apply_gradients(loss, model, optimizer)
            step += 1
            metrics = {"train/cross_entropy": mean_across_ranks(loss.item(), context)}
            bar.update(1)
            bar.set_postfix(loss=f"{metrics['train/cross_entropy']:.3f}")
            if (step % config.eval_every == 0 or step == config.max_steps) and context.is_main and len(val.texts):
                metrics.update(evaluate_writer(unwrap_model(trained), val, context.device, config.eval_pairs))
                bar.write(
                    f"step {step}: val cross-entropy {metrics['val/cross_entropy']:.3f}, "
                    f"BLEU-4 {metrics['val/bleu4']:.3f}, ROUGE-L {metrics['val/rouge_l']:.3f}"
                )
            log_and_checkpoint(step, metrics, config, logger, context, run_dir, model, optimizer)
        bar.close()
        return finish_run(step, run_dir, model, logger, context)
    finally:
        teardown_distributed()
