"""Stage 2: pretrain the motion-language model (span corruption + supervised translation).

Each example of a batch is, with probability `span_ratio`, a T5 span-corruption example (15 % noise,
mean span 3, `<extra_id_i>` sentinels; trainer/stages/span_corruption.py) over a caption, a motion
or a caption followed by its motion; otherwise a supervised translation, MotionGPT's three
pretraining tasks: text -> motion, motion -> text, motion prediction (first 20 % -> the rest), with
the prompts the engine's task functions use (engine.models.motion_tasks.PROMPTS). Both branches really run
(MotionGPT's public code never takes its unsupervised branch, issues #18/#99) and both are logged
(`train/loss_span`, `train/examples_span`, `train/loss_t2m`, ...).

    motion-train pretrain --config pretrain_cpu --data_dir=out/data --tokenizer_dir=runs/tokenizer_cpu/model

Output: RUN_DIR/model (MotionLM directory), logs in RUN_DIR/tb and metrics.jsonl.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from engine.errors import InputError
from engine.models.motion_lm import MotionLM, MotionLMConfig
from engine.models.motion_tasks import PROMPTS
from engine.models.text_tokenizer import all_sentinel_ids, load_text_tokenizer, train_text_tokenizer
from trainer.stages.lm_data import (
    Example,
    MotionEntry,
    crop,
    text_corpus,
    text_example,
    without_caption,
)
from trainer.stages.lm_loop import LMTrainConfig, run_lm_stage
from trainer.stages.span_corruption import corrupt_spans

SUPERVISED = ("t2m", "m2t", "predict")
PREDICT_PREFIX = 0.2  # MotionGPT ABLATION.predict_ratio


@dataclass
class PretrainConfig(LMTrainConfig):
    run_dir: str = "runs/pretrain"
    preset: str = "small"  # MotionLMConfig preset for a model trained from scratch
    text_tokenizer_dir: str | None = None  # a local HF tokenizer (e.g. FLAN-T5's); None: train one here
    pretrained_t5_dir: str | None = None  # local T5 weights + tokenizer to start from instead of scratch
    text_vocab_size: int = 2000
    dropout_rate: float = 0.1
    span_ratio: float = 0.5  # share of span-corruption examples in each batch
    noise_density: float = 0.15
    mean_noise_span: float = 3.0
    tasks: str = "t2m,m2t,predict"  # supervised tasks, comma-separated
    text_prefix_tokens: int = 0  # MiniLM sentence-vector prefix length (engine.models.text_prefix); 0: none

    def __post_init__(self) -> None:
        super().__post_init__()
        if not 0.0 <= self.span_ratio <= 1.0:
            raise ValueError(f"span_ratio={self.span_ratio} must lie in [0, 1]")
        unknown = set(self.task_list) - set(SUPERVISED)
        if unknown or (not self.task_list and self.span_ratio < 1.0):
            raise ValueError(f"tasks={self.tasks!r}: choose from {SUPERVISED} (or span_ratio=1)")

    @property
    def task_list(self) -> list[str]:
        return [t.strip() for t in self.tasks.split(",") if t.strip()]


def build_lm(config: PretrainConfig, entries: list[MotionEntry], code_num: int) -> MotionLM:
    """A new model: pretrained local T5 if given, else from scratch over a given or trained text tokenizer."""
    limits = {"max_motion_codes": config.max_motion_codes, "max_input_tokens": config.max_input_tokens}
    if config.pretrained_t5_dir:
        return MotionLM.from_pretrained_t5(config.pretrained_t5_dir, code_num, **limits)
    if config.text_tokenizer_dir:
        text_tokenizer = load_text_tokenizer(config.text_tokenizer_dir)
    else:
        corpus = text_corpus(entries, [p.format(caption="", motion="") for p in PROMPTS.values()])
        text_tokenizer = train_text_tokenizer(corpus, vocab_size=config.text_vocab_size)
    model_config = MotionLMConfig.preset(
        config.preset, dropout_rate=config.dropout_rate, text_prefix_tokens=config.text_prefix_tokens, **limits
    )
    return MotionLM.create(model_config, text_tokenizer, code_num, seed=config.seed)


class PretrainExamples:
    """Draws pretraining examples from motions with captions (captionless motions: span and predict only)."""

    def __init__(self, lm: MotionLM, entries: list[MotionEntry], config: PretrainConfig) -> None:
        self.lm, self.entries, self.config = lm, entries, config
        self.sentinels = all_sentinel_ids(lm.tokenizer)
        self.captioned = [e for e in entries if e.captions]
        self.tasks = config.task_list
        if not self.captioned and set(self.tasks) & {"t2m", "m2t"}:
            raise InputError("no motion in the data has a caption; build the data with captions or use --tasks=predict")

    def _tokens(self, text: str) -> list[int]:
        return self.lm.tokenizer(
            text, add_special_tokens=False, truncation=True, max_length=self.config.max_input_tokens - 1
        ).input_ids

    def span(self, rng: np.random.Generator) -> Example:
        entry = self.entries[int(rng.integers(len(self.entries)))]
        codes = crop(entry.codes, self.config.max_motion_codes, rng)
        choice = int(rng.integers(3)) if entry.captions else 1
        caption = entry.captions[int(rng.integers(len(entry.captions)))] if entry.captions else ""
        text = [caption, self.lm.vocab.serialize(codes), caption + " " + self.lm.vocab.serialize(codes)][choice]
        tokens = self._tokens(text)
        if len(tokens) < 2:
            tokens = self._tokens(self.lm.vocab.serialize(codes))
        inputs, targets = corrupt_spans(
            tokens,
            self.sentinels,
            self.lm.tokenizer.eos_token_id,
            rng,
            self.config.noise_density,
            self.config.mean_noise_span,
        )
        return Example(inputs, targets, "span")

    def supervised(self, rng: np.random.Generator) -> Example:
        task = self.tasks[int(rng.integers(len(self.tasks)))]
        pool = self.captioned if task in ("t2m", "m2t") else self.entries
        entry = pool[int(rng.integers(len(pool)))]
        codes = crop(entry.codes, self.config.max_motion_codes, rng)
        if task == "predict" and len(codes) < 2:
            task = "t2m" if entry.captions else task
        caption = entry.captions[int(rng.integers(len(entry.captions)))] if entry.captions else ""
        vocab, c = self.lm.vocab, self.config
        condition = ""
        if task == "t2m":
            source, target = PROMPTS["t2m"].format(caption=caption), vocab.serialize(codes)
            if self.lm.text_prefix is not None:
                condition = caption
                if rng.random() < c.caption_dropout:
                    source = without_caption(source, caption)
        elif task == "m2t":
            source, target = PROMPTS["m2t"].format(motion=vocab.serialize(codes)), caption
        else:
            cut = max(1, min(len(codes) - 1, int(round(len(codes) * PREDICT_PREFIX))))
            source, target = (
                PROMPTS["predict"].format(motion=vocab.serialize(codes[:cut])),
                vocab.serialize(codes[cut:]),
            )
        return text_example(self.lm.tokenizer, source, target, task, c.max_input_tokens, c.max_target_tokens, condition)

    def draw(self, rng: np.random.Generator, batch_size: int) -> list[Example]:
        return [
            self.span(rng) if rng.random() < self.config.span_ratio else self.supervised(rng) for _ in range(batch_size)
        ]


def train_pretrain(config: PretrainConfig) -> Path:
    """Run stage 2 (or resume it); returns the saved model directory."""
    return run_lm_stage(
        config,
        "pretrain",
        lambda train, code_num: build_lm(config, train, code_num),
        lambda lm, code_num: (
            f"{config.run_dir}/init was built for {lm.vocab.code_num} motion codes, the tokenizer has "
            f"{code_num}: use a new --run_dir"
        ),
        lambda lm, entries: PretrainExamples(lm, entries, config),
    )
