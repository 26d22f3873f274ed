"""Instruction templates (data files) and the task-mixture builder."""

from __future__ import annotations

import json

import pytest

from engine.errors import InputError
from trainer.data import instructions as ins


def test_template_files_cover_tasks_with_valid_placeholders() -> None:
    templates = ins.load_templates()  # raises on any placeholder not allowed for its task
    assert len(ins.TASKS) >= 15 and set(templates) == set(ins.TASKS)
    distinct = {t for task in templates.values() for t in task["input"] + task["output"]}
    distinct_inputs = {t for task in templates.values() for t in task["input"]}
    assert len(distinct_inputs) > 1000, len(distinct_inputs)
    assert len(distinct) > len(distinct_inputs)
    for name, task in templates.items():
        assert len(task["input"]) >= 40, name
        assert len(set(task["input"])) == len(task["input"]), f"duplicate template in {name}"
        for template in task["input"] + task["output"]:
            used = ins.placeholders_in(template)
            assert used <= set(ins.PLACEHOLDERS), template
            assert template.strip() == template and "  " not in template, template


def test_loader_rejects_wrong_placeholder(tmp_path) -> None:
    for path in ins.TEMPLATE_DIR.glob("*.json"):
        (tmp_path / path.name).write_text(path.read_text(encoding="utf-8"), encoding="utf-8")
    bad = json.loads((tmp_path / "m2t.json").read_text(encoding="utf-8"))
    bad["input"].append("Describe <Caption_Placeholder> please")
    (tmp_path / "m2t.json").write_text(json.dumps(bad), encoding="utf-8")
    with pytest.raises(InputError, match="m2t"):
        ins.load_templates(tmp_path)


def test_builder_fills_text_and_marks_motion_spans() -> None:
    records = [
        ins.MotionRecord(f"B{i:06d}", ("a person waves the left hand", "someone waves"), 40 + 17 * i, "train")
        for i in range(30)
    ]
    examples = list(ins.build_examples(records, per_motion=len(ins.TASKS), seed=1))
    assert examples == list(ins.build_examples(records, per_motion=len(ins.TASKS), seed=1))
    assert len(examples) == 30 * len(ins.TASKS)
    assert {e["task"] for e in examples[: len(ins.TASKS)]} == set(ins.TASKS)  # each task once per motion
    for example in examples:
        record = records[int(example["motion_id"][1:])]
        spec = ins.TASKS[example["task"]]
        text = example["input"] + " " + example["output"]
        assert not {ins.CAPTION, ins.FRAMES, ins.SECONDS} & ins.placeholders_in(text)
        motion_slots = {ins.MOTION, ins.MOTION_PREFIX, ins.MOTION_SUFFIX, ins.MOTION_MASKED}
        assert ins.placeholders_in(text) == (spec.input | spec.output) & motion_slots
        if ins.FRAMES in spec.input | spec.output:
            assert str(record.frames) in text
        if ins.SECONDS in spec.input | spec.output:
            assert f"{record.frames / 20:.1f}" in text
        if ins.CAPTION in spec.input | spec.output:
            assert any(c in text for c in record.captions)
        if example["task"] == "predict":
            assert 0 < example["prefix_frames"] < record.frames and example["prefix_frames"] % 4 == 0
        if example["task"] == "inbetween":
            start, end = example["mask_frames"]
            assert 0 < start < end < record.frames and start % 4 == 0 == end % 4


def test_fill_keeps_motion_slots() -> None:
    record = ins.MotionRecord("M000001", ("x",), 57, "val")
    text = ins.fill(
        "Make <Caption_Placeholder> in <Frame_Placeholder> frames (<Second_Placeholder> s): <Motion_Placeholder>",
        record,
        "a person runs",
    )
    assert text == "Make a person runs in 57 frames (2.9 s): <Motion_Placeholder>"
