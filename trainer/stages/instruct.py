"""Stage 3: instruction tuning of the motion-language model on the task mixture.

Examples come from the data issue's builder (trainer/data/instructions.py: 18 task kinds, many
templates per task): every draw picks a task uniformly at random and a motion, so batches mix all
tasks (MotionGPT iterates tasks in order, issue #105). Motions longer than `max_motion_codes` are
cropped first and the example is built for the crop, so frame counts in the text always match the
motion tokens. Motion placeholders become motion token strings here, where the codes exist.

    motion-train instruct --config instruct_cpu --init_dir=runs/pretrain_cpu/model --data_dir=out/data
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from engine.errors import InputError
from engine.models.motion_lm import MotionLM
from engine.models.motion_vocab import MotionVocab
from trainer.data import instructions as ins
from trainer.stages.lm_data import Example, MotionEntry, action_weights, crop, text_example, without_caption
from trainer.stages.lm_loop import LMTrainConfig, run_lm_stage

MOTION_TASKS_MIN_CODES = 3  # in-between needs a prefix, a masked span and a suffix


@dataclass
class InstructConfig(LMTrainConfig):
    run_dir: str = "runs/instruct"
    init_dir: str = "runs/pretrain_cpu/model"  # the stage-2 model (a MotionLM directory)
    learning_rate: float = 1e-4  # MotionGPT stage 3
    tasks: str = ""  # comma-separated task kinds; empty: all of them

    def __post_init__(self) -> None:
        super().__post_init__()
        unknown = set(self.task_list) - set(ins.TASKS)
        if unknown:
            raise ValueError(f"tasks={self.tasks!r}: unknown {sorted(unknown)}; known: {sorted(ins.TASKS)}")

    @property
    def task_list(self) -> list[str]:
        return [t.strip() for t in self.tasks.split(",") if t.strip()] or sorted(ins.TASKS)


def fill_motion(text: str, example: dict, codes: list[int], vocab: MotionVocab) -> str:
    """Replace the motion placeholders of a built example by motion token strings of `codes`."""
    unit = ins.UNIT
    if ins.MOTION_PREFIX in text or ins.MOTION_SUFFIX in text:
        cut = example["prefix_frames"] // unit
        text = text.replace(ins.MOTION_PREFIX, vocab.serialize(codes[:cut]))
        text = text.replace(ins.MOTION_SUFFIX, vocab.serialize(codes[cut:]))
    if ins.MOTION_MASKED in text:
        start, end = (f // unit for f in example["mask_frames"])
        text = text.replace(ins.MOTION_MASKED, vocab.serialize_masked(codes, start, end))
    return text.replace(ins.MOTION, vocab.serialize(codes))


class InstructionExamples:
    """Draws instruction examples: random task, random captioned motion, random crop and template."""

    def __init__(self, lm: MotionLM, entries: list[MotionEntry], config: InstructConfig) -> None:
        self.lm, self.config = lm, config
        self.entries = [e for e in entries if e.captions and len(e.codes) >= MOTION_TASKS_MIN_CODES]
        if not self.entries:
            raise InputError("no captioned motion of at least 12 frames in the data; build it with `motion-train data`")
        self.templates = ins.load_templates()
        self.tasks = config.task_list
        self.weights = action_weights(config.data_dir, self.entries, config.balance_actions)

    def example(self, rng: np.random.Generator) -> Example:
        task = self.tasks[int(rng.integers(len(self.tasks)))]
        entry = self.entries[int(rng.choice(len(self.entries), p=self.weights))]
        codes = crop(entry.codes, self.config.max_motion_codes, rng)
        record = ins.MotionRecord(entry.motion_id, entry.captions, len(codes) * ins.UNIT, "train")
        built = ins.make_example(task, record, self.templates, random.Random(int(rng.integers(2**32))))
        source = fill_motion(built["input"], built, codes, self.lm.vocab)
        target = fill_motion(built["output"], built, codes, self.lm.vocab)
        c, condition = self.config, ""
        if self.lm.text_prefix is not None and ins.CAPTION in ins.TASKS[task].input:
            condition = built["caption"]
            if rng.random() < c.caption_dropout:
                source = without_caption(source, condition)
        return text_example(self.lm.tokenizer, source, target, task, c.max_input_tokens, c.max_target_tokens, condition)

    def draw(self, rng: np.random.Generator, batch_size: int) -> list[Example]:
        return [self.example(rng) for _ in range(batch_size)]


def train_instruct(config: InstructConfig) -> Path:
    """Run stage 3 (or resume it) from `init_dir`; returns the saved model directory."""
    return run_lm_stage(
        config,
        "instruct",
        lambda train, code_num: MotionLM.load(config.init_dir),
        lambda lm, code_num: (
            f"the model in {config.init_dir} has {lm.vocab.code_num} motion codes, the tokenizer "
            f"{config.tokenizer_dir} has {code_num}: pretrain with the same tokenizer"
        ),
        lambda lm, entries: InstructionExamples(lm, entries, config),
    )
