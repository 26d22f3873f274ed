"""Instruction data for the motion-language model: task kinds, template files, example builder.

Templates are data (trainer/data/templates/<task>.json, written for this project): each file has
`input` and `output` template lists with placeholders. The builder expands a motion dataset into
examples `{"task", "input", "output", "motion_id", ...}`. Caption, frame and second placeholders
are filled with text here; motion placeholders stay as they are and the example records which
frames they stand for, because motion token ids only exist once the tokenizer is trained (the LM
stage substitutes `<motion_id_k>` strings for them; MotionGPT, Jiang et al. 2023, github.com/OpenMotionLab/MotionGPT,
`prepare/instructions/template_instructions.json`).

Run: `python -m trainer.data.instructions DATASET_DIR [--per-motion K]` writes
DATASET_DIR/instructions/{train,val,test}.jsonl.
"""

from __future__ import annotations

import argparse
import json
import random
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from engine.errors import InputError
from engine.formats.humanml3d import open_dataset

TEMPLATE_DIR = Path(__file__).with_name("templates")
FPS = 20.0
UNIT = 4  # tokenizer temporal down-sampling: motion spans are cut on multiples of 4 frames

CAPTION, MOTION, FRAMES, SECONDS = (
    "<Caption_Placeholder>",
    "<Motion_Placeholder>",
    "<Frame_Placeholder>",
    "<Second_Placeholder>",
)
MOTION_PREFIX, MOTION_SUFFIX, MOTION_MASKED = (
    "<Motion_Placeholder_s1>",
    "<Motion_Placeholder_s2>",
    "<Motion_Placeholder_Masked>",
)
PLACEHOLDERS = (CAPTION, MOTION, FRAMES, SECONDS, MOTION_PREFIX, MOTION_SUFFIX, MOTION_MASKED)
_PLACEHOLDER_PATTERN = re.compile(r"<[A-Za-z_0-9]+>")

# MotionGPT's prediction prefix (20 %) and in-between mask [25 %, 75 %) (motiongpt.md 3.3).
PREDICT_PREFIX = 0.2
INBETWEEN_SPAN = (0.25, 0.75)


@dataclass(frozen=True)
class TaskSpec:
    """Which placeholders a task's input and output templates must contain (exactly these)."""

    name: str
    input: frozenset[str]
    output: frozenset[str]


def _spec(name: str, inputs: tuple[str, ...], outputs: tuple[str, ...]) -> TaskSpec:
    return TaskSpec(name, frozenset(inputs), frozenset(outputs))


TASKS: dict[str, TaskSpec] = {
    spec.name: spec
    for spec in (
        _spec("t2m", (CAPTION,), (MOTION,)),
        _spec("t2m_frames", (CAPTION, FRAMES), (MOTION,)),
        _spec("t2m_seconds", (CAPTION, SECONDS), (MOTION,)),
        _spec("l2m_frames", (FRAMES,), (MOTION,)),
        _spec("l2m_seconds", (SECONDS,), (MOTION,)),
        _spec("n2m", (), (MOTION,)),
        _spec("m2t", (MOTION,), (CAPTION,)),
        _spec("m2t_frames", (MOTION, FRAMES), (CAPTION,)),
        _spec("m2t_seconds", (MOTION, SECONDS), (CAPTION,)),
        _spec("m2l_frames", (MOTION,), (FRAMES,)),
        _spec("m2l_seconds", (MOTION,), (SECONDS,)),
        _spec("t2l_frames", (CAPTION,), (FRAMES,)),
        _spec("t2l_seconds", (CAPTION,), (SECONDS,)),
        _spec("l2t_frames", (FRAMES,), (CAPTION,)),
        _spec("l2t_seconds", (SECONDS,), (CAPTION,)),
        _spec("n2t", (), (CAPTION,)),
        _spec("predict", (MOTION_PREFIX,), (MOTION_SUFFIX,)),
        _spec("inbetween", (MOTION_MASKED,), (MOTION,)),
    )
}


def placeholders_in(template: str) -> set[str]:
    """The `<...>` placeholders a template uses."""
    return set(_PLACEHOLDER_PATTERN.findall(template))


def load_templates(directory: Path = TEMPLATE_DIR) -> dict[str, dict[str, list[str]]]:
    """`{task: {"input": [...], "output": [...]}}` from the template JSON files, validated.

    Raises InputError naming the file and template when a placeholder is missing, unknown or
    not allowed for the task.
    """
    templates = {}
    for path in sorted(Path(directory).glob("*.json")):
        data = json.loads(path.read_text(encoding="utf-8"))
        task = data.get("task", path.stem)
        if task not in TASKS:
            raise InputError(f"template file {path} names unknown task {task!r}; known: {sorted(TASKS)}.")
        for side in ("input", "output"):
            expected = getattr(TASKS[task], side)
            for template in data[side]:
                if placeholders_in(template) != expected:
                    raise InputError(
                        f"{path}: {side} template {template!r} uses placeholders "
                        f"{sorted(placeholders_in(template))}, task {task} needs "
                        f"exactly {sorted(expected)}."
                    )
        templates[task] = {"input": list(data["input"]), "output": list(data["output"])}
    missing = set(TASKS) - set(templates)
    if missing:
        raise InputError(f"no template file for tasks {sorted(missing)} in {directory}.")
    return templates


@dataclass(frozen=True)
class MotionRecord:
    """What the builder needs of one motion: id, captions, frame count (20 fps), split."""

    motion_id: str
    captions: tuple[str, ...]
    frames: int
    split: str


def _unit_floor(frames: float) -> int:
    return int(frames // UNIT) * UNIT


def fill(template: str, record: MotionRecord, caption: str) -> str:
    """Put caption, frame count and seconds (one decimal) into a template; motion slots stay."""
    return (
        template.replace(CAPTION, caption)
        .replace(FRAMES, str(record.frames))
        .replace(SECONDS, f"{record.frames / FPS:.1f}")
    )


def make_example(
    task: str, record: MotionRecord, templates: dict[str, dict[str, list[str]]], rng: random.Random
) -> dict:
    """One (task, input, output) example for a motion, with a random template and caption.

    Motion spans are given in frames of the motion (multiples of UNIT): `prefix_frames` for
    predict (input = frames [0, prefix), output = the rest), `mask_frames` [start, end) for
    in-between (input = the motion with that span masked, output = the whole motion).
    """
    caption = rng.choice(record.captions)
    example = {
        "task": task,
        "motion_id": record.motion_id,
        "frames": record.frames,
        "input": fill(rng.choice(templates[task]["input"]), record, caption),
        "output": fill(rng.choice(templates[task]["output"]), record, caption),
        "caption": caption,
    }
    if task == "predict":
        example["prefix_frames"] = max(UNIT, _unit_floor(record.frames * PREDICT_PREFIX))
    elif task == "inbetween":
        start = max(UNIT, _unit_floor(record.frames * INBETWEEN_SPAN[0]))
        example["mask_frames"] = [start, max(start + UNIT, _unit_floor(record.frames * INBETWEEN_SPAN[1]))]
    return example


def build_examples(
    records: Iterable[MotionRecord], per_motion: int = 4, seed: int = 0, tasks: Iterable[str] | None = None
) -> Iterator[dict]:
    """`per_motion` examples for each motion, tasks drawn without replacement (cycling when
    per_motion exceeds the number of tasks), deterministic from `seed`."""
    templates = load_templates()
    task_names = sorted(tasks or TASKS)
    for record in records:
        rng = random.Random(f"{seed}/{record.motion_id}")
        order = []
        while len(order) < per_motion:
            order += rng.sample(task_names, len(task_names))
        for task in order[:per_motion]:
            yield make_example(task, record, templates, rng)


def read_records(dataset_dir: Path) -> list[MotionRecord]:
    """MotionRecords of a HumanML3D-layout folder (engine.formats.humanml3d reader); motions
    without captions are left out (they only serve motion-only stages)."""
    dataset = open_dataset(dataset_dir)
    records = []
    for split in ("train", "val", "test"):
        for motion_id in dataset.ids(split):
            captions = tuple(dict.fromkeys(t.caption for t in dataset.texts(motion_id) if t.caption))
            if captions:
                frames = int(np.load(dataset.root / "new_joints" / f"{motion_id}.npy", mmap_mode="r").shape[0])
                records.append(MotionRecord(motion_id, captions, frames, split))
    return records


def write_instructions(dataset_dir: Path, per_motion: int = 4, seed: int = 0) -> dict[str, int]:
    """Write instructions/{split}.jsonl under a built dataset; returns examples per split."""
    out_dir = Path(dataset_dir) / "instructions"
    out_dir.mkdir(parents=True, exist_ok=True)
    records = read_records(dataset_dir)
    counts = {}
    for split in ("train", "val", "test"):
        subset = [r for r in records if r.split == split]
        with open(out_dir / f"{split}.jsonl", "w", encoding="utf-8") as handle:
            counts[split] = 0
            for example in build_examples(subset, per_motion=per_motion, seed=seed):
                handle.write(json.dumps(example, ensure_ascii=False) + "\n")
                counts[split] += 1
    return counts


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dataset_dir", type=Path)
    parser.add_argument("--per-motion", type=int, default=4)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    print(write_instructions(args.dataset_dir, args.per_motion, args.seed))


if __name__ == "__main__":
    main()
