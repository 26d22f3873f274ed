"""Short-command augmentation for the pose editor (trainer.data.short_commands), on a real clip."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from engine.describe.joints import mirror_poses, normalise
from engine.motion.skeleton import JOINT_INDEX
from trainer.data.short_commands import add_short_commands, all_clauses, load_vocabulary, moved_parts, short_command

SAMPLE = Path(__file__).resolve().parents[1] / "engine/assets/samples/dataset-2_raise-up-right-hand_active_010.bvh"


@pytest.fixture(scope="module")
def frames() -> np.ndarray:
    """The bundled real Bandai clip 'raise up right hand', every frame facing +Z: `(T, 22, 3)`."""
    from engine.formats.canonical import load_motion

    return normalise(load_motion(SAMPLE, preset="bandai").positions.astype(np.float64))


def test_named_part_and_direction_follow_the_move(frames):
    a = frames[0]
    cases = [
        ("left_wrist", 1, +0.25, ("wrist", "left", "up")),
        ("right_ankle", 2, -0.20, ("ankle", "right", "back")),
        ("left_knee", 0, +0.15, ("knee", "left", "out")),  # +X is the body's left: out for the left side
        ("right_wrist", 0, +0.20, ("wrist", "right", "in")),
    ]  # ... and in for the right side
    for joint, axis, metres, expected in cases:
        b = a.copy()
        b[JOINT_INDEX[joint], axis] += metres
        assert moved_parts(a, b)[0][:3] == expected, joint
    b = a.copy()
    b[JOINT_INDEX["right_knee"]] += [0.0, 0.12, 0.25]  # a knee lift: more forward than up, still "up"
    assert moved_parts(a, b)[0][:3] == ("knee", "right", "up")
    assert moved_parts(a, a) == []  # nothing moved: no command
    b = a.copy()
    b[JOINT_INDEX["left_wrist"]] += [0.06, 0.06, 0.06]  # no dominant direction: no command
    assert moved_parts(a, b) == []


def test_real_hand_raise_reads_as_raising_the_right_hand(frames):
    """The clip raises the right hand: from the first frame to the highest one, the command names
    the right arm going up; the mirrored pair names the left arm."""
    top = int(np.argmax(frames[:, JOINT_INDEX["right_wrist"], 1] - frames[:, 0, 1]))
    a, b = frames[0], frames[top]
    assert moved_parts(a, b)[0][1:3] == ("right", "up")
    assert moved_parts(mirror_poses(a[None])[0], mirror_poses(b[None])[0])[0][1:3] == ("left", "up")
    vocabulary = load_vocabulary()
    rng = np.random.default_rng(0)
    for _ in range(20):
        text = short_command(a, b, vocabulary, rng)
        assert text.endswith(".") and text[0].isupper() and "{" not in text
        assert re.search(r"\bright\b", text) and not re.search(r"\bleft\b", text), text


def test_add_short_commands_keeps_the_automatic_texts(frames):
    a, b = frames[:-10:5], frames[10::5]
    texts = [[f"automatic {i}"] for i in range(len(a))]
    out, added = add_short_commands(a, b, texts, seed=1)
    assert [o[0] for o in out] == [t[0] for t in texts]
    assert 0 < added == sum(len(o) == 2 for o in out)
    assert out == add_short_commands(a, b, texts, seed=1)[0]  # seeded


def test_clause_enumeration_covers_what_phrase_writes(frames):
    """all_clauses (used to prove benchmark paraphrases are unseen) contains every clause written."""
    clauses = set(all_clauses())
    top = int(np.argmax(frames[:, JOINT_INDEX["right_wrist"], 1]))
    vocabulary = dict(load_vocabulary(), openers=[""], joiners=[" and "])
    rng = np.random.default_rng(3)
    for _ in range(200):
        text = short_command(frames[0], frames[top], vocabulary, rng).rstrip(".")
        for clause in text.split(" and "):
            assert clause.lower() in clauses, clause


def test_posefix_stage_adds_commands_only_when_asked(tmp_path):
    from posefix_fixtures import write_dataset

    from trainer.stages.pair_data import load_stage_pairs
    from trainer.stages.posefix import PosefixTrainConfig

    data = write_dataset(tmp_path / "data")
    plain = PosefixTrainConfig(data_dir=str(data), extra_pairs=8)
    train, val = load_stage_pairs(plain)
    train_short, val_short = load_stage_pairs(
        PosefixTrainConfig(data_dir=str(data), extra_pairs=8, short_commands=True)
    )
    assert val_short.texts == val.texts  # validation texts untouched
    assert sum(map(len, train_short.texts)) > sum(map(len, train.texts))
    assert all(s[: len(t)] == t for s, t in zip(train_short.texts, train.texts))
