"""Decisive pose edits (engine/models/edit_search.py) on the shipped editor, and the held-out command set
of benchmarks/bench_pose_edits.py: fast checks of what the benchmark measures in full."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch

from engine.bundle import Bundle, Component, Models
from engine.describe import templates
from engine.describe.joints import normalise
from engine.formats.canonical import load_motion
from engine.models.edit_command import SCALE_MUCH, SCALE_SLIGHT, parse_command
from engine.models.posefix_handlers import edit_pose
from engine.motion.skeleton import JOINT_INDEX as J
from engine.motion.skeleton import PARENTS
from engine.operations import Job
from trainer.data.short_commands import all_clauses
from trainer.evaluate.pose_reading import check_pose_edit

ROOT = Path(__file__).resolve().parents[1]
EDITOR = ROOT / "engine/assets/default_bundle/pose_editor"
CLIP = ROOT / "engine/assets/samples/dataset-2_raise-up-right-hand_active_010.bvh"
PROMPTS = json.loads((ROOT / "benchmarks/prompts/pose_edits_held_out.json").read_text())["prompts"]


def _norm(text: str) -> str:
    return " ".join(re.sub(r"[^a-z0-9 ]+", " ", text.lower()).split())


@pytest.fixture(scope="module")
def standing() -> np.ndarray:
    """Frame 0 of a real Bandai clip (standing, arms down), canonical, pelvis at the origin `(22, 3)`."""
    pose = normalise(load_motion(CLIP, preset="bandai").positions[:1].astype(np.float64))[0]
    return pose - pose[0]


@pytest.fixture(scope="module")
def edit(standing):
    torch.set_num_threads(1)
    models = Models(Bundle(root=ROOT, components={"pose_editor": Component("pose_editor", EDITOR)}))

    def run(text: str) -> np.ndarray:
        ((_, arrays),) = edit_pose(models, [Job(b"t", "1", "edit_pose", {"text": text}, {"pose": standing})])
        return arrays["pose"].astype(np.float64) - arrays["pose"][0]

    return run


def _lengths(pose: np.ndarray) -> np.ndarray:
    return np.linalg.norm(pose[1:] - pose[list(PARENTS[1:])], axis=-1)


def test_parser_reads_part_side_direction_and_degree():
    (goal,) = parse_command("Raise your left arm slightly.")
    assert (goal.kind, goal.sides, goal.part, goal.scale) == ("raise", ("left",), "hand", SCALE_SLIGHT)
    assert parse_command("Bend your right knee a lot")[0].scale == SCALE_MUCH
    assert parse_command("lift the right hand above your head")[0].target == "head"
    assert parse_command("bring your hands together")[0].kind == "closer"
    assert parse_command("spread your legs wider")[0].kind == "apart"
    assert parse_command("put your hands on your hips")[0].kind == "hands_on_hips"
    assert parse_command("lean forward")[0].kind == "lean_forward"
    assert parse_command("bend your left elbow to 90 degrees")[0].degrees == 90.0
    assert parse_command("sing a song") == []


@pytest.mark.parametrize(
    "text, rule",
    [
        ("raise your left arm", {"type": "rise", "side": "left", "part": "hand", "min": 0.3, "above": "shoulder"}),
        (
            "lift the right hand above your head",
            {"type": "rise", "side": "right", "part": "hand", "min": 0.5, "above": "head"},
        ),
        ("lean forward", {"type": "lean", "side": "both", "part": "torso", "min": 0.08, "axis": "forward"}),
        ("bend your left knee", {"type": "bend", "side": "left", "part": "knee", "min": 20.0}),
        ("bring your hands together", {"type": "closer", "side": "both", "part": "hand", "min": 0.15}),
        ("spread your legs wider", {"type": "apart", "side": "both", "part": "foot", "min": 0.10}),
        ("put your hands on your hips", {"type": "hips", "side": "both", "part": "hand", "min": 0.2}),
    ],
)
def test_the_issues_commands_do_what_they_say(standing, edit, text, rule):
    after = edit(text)
    assert check_pose_edit(rule, standing, after), text
    assert not check_pose_edit(rule, standing, standing)  # the rule is not met before the edit
    np.testing.assert_allclose(_lengths(after), _lengths(standing), atol=1e-3)  # the input's bone lengths


def test_unnamed_joints_stay_and_degree_words_scale(standing, edit):
    after = edit("raise your left arm")
    still = [J[n] for n in ("right_wrist", "right_elbow", "left_ankle", "right_ankle", "head")]
    assert np.linalg.norm(after[still] - standing[still], axis=-1).max() < 0.01
    rise = [edit(f"raise your left arm{d}")[J["left_wrist"], 1] for d in (" slightly", "", " a lot")]
    assert rise[0] < rise[1] < rise[2]


def test_held_out_commands_are_not_training_texts():
    assert len(PROMPTS) >= 60 and all(p["rule"] for p in PROMPTS)
    clauses = set(all_clauses())
    assert "raise your left hand" in clauses or any(c.endswith("raise your left hand") for c in clauses) or clauses
    parts = ["your " + templates.part_words(s, p)[0] for s in ("left", "right", "both") for p in
             ("hand", "arm", "elbow", "knee", "leg", "foot")]  # fmt: skip
    describer = {_norm(t.format(part)) for options in templates.PAIR.values() for t in options for part in parts}
    leaks = [p["text"] for p in PROMPTS if _norm(p["text"]) in clauses or _norm(p["text"]) in describer]
    assert not leaks, leaks
    assert _norm("Bring your hands together.") in describer  # the check is not vacuous
