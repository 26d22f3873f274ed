"""Property tests of engine.describe on REAL poses from the Bandai-Namco BVH clips.

- mirroring A and B (x -> -x, left <-> right joints) mirrors the text (deterministic mode);
- known rigid edits (bend the left elbow 60 degrees, lift the right knee 0.3 m, bring the hands
  together) are named with the right side and direction;
- swapping A and B reverses the direction words.
"""

from __future__ import annotations

import re
from collections import Counter

import numpy as np
import pytest

from engine.describe import describe_change, describe_changes, describe_poses, edits, joints, paircodes
from engine.describe.posecodes import _measure
from engine.motion import skeleton

J = skeleton.JOINT_INDEX
CLIP_COUNT = 10  # clips spread evenly over the sorted dataset-2 clips, whatever their number


@pytest.fixture(scope="module")
def real_pairs(bandai_clips) -> tuple[np.ndarray, np.ndarray]:
    """40 real pairs: two frames 5-30 frames apart from each of 10 clips (seeded)."""
    from engine.formats.canonical import load_motion

    rng = np.random.default_rng(4)
    a, b = [], []
    for index in np.linspace(0, len(bandai_clips) - 1, CLIP_COUNT).round().astype(int):
        positions = load_motion(bandai_clips[index]).positions.astype(np.float64)
        for _ in range(4):
            t = int(rng.integers(len(positions)))
            a.append(positions[t])
            b.append(positions[min(len(positions) - 1, t + int(rng.integers(5, 30)))])
    return np.array(a), np.array(b)


@pytest.fixture(scope="module")
def open_arm_poses(real_pairs) -> np.ndarray:
    """Real poses whose left elbow is open (> 110 degrees), so a 60 degree bend stays a bend."""
    poses = real_pairs[0]
    ids = np.array([[J["left_shoulder"], J["left_elbow"], J["left_wrist"]]])
    angles = _measure("angle", poses, ids)[:, 0]
    chosen = poses[angles > 110.0][:8]
    assert len(chosen) >= 5, "too few real poses with an open left elbow"
    return chosen


def swap_sides(text: str) -> str:
    """left <-> right, except in "right angle"."""
    return re.sub(r"\b(left|right)\b(?! angle)", lambda m: {"left": "right", "right": "left"}[m.group(1)], text)


def sentence_bags(text: str) -> list[tuple[str, ...]]:
    """Each sentence as a sorted bag of words: the order of a listing inside a sentence is free."""
    return sorted(tuple(sorted(re.findall(r"[a-z0-9]+", s.lower()))) for s in text.split(". "))


def test_mirrored_poses_get_mirrored_descriptions(real_pairs):
    a, _ = real_pairs
    texts = describe_poses(a, deterministic=True)
    mirrored = describe_poses(joints.mirror_poses(a), deterministic=True)
    for text, mirror_text in zip(texts, mirrored):
        assert sentence_bags(swap_sides(text)) == sentence_bags(mirror_text), (text, mirror_text)
    assert sum("left" in t for t in texts) > len(texts) // 2  # the property is not vacuous


def test_mirrored_pairs_get_mirrored_instructions(real_pairs):
    a, b = real_pairs
    texts = describe_changes(a, b, deterministic=True)
    mirrored = describe_changes(joints.mirror_poses(a), joints.mirror_poses(b), deterministic=True)
    for text, mirror_text in zip(texts, mirrored):
        assert sentence_bags(swap_sides(text)) == sentence_bags(mirror_text), (text, mirror_text)


def no_side_except(text: str, side: str, parts: str) -> bool:
    other = {"left": "right", "right": "left"}[side]
    return re.search(rf"\b{other} ({parts})", text) is None


def test_bending_the_left_elbow_is_named(open_arm_poses):
    for pose in open_arm_poses:
        bent = edits.bend_elbow(pose, "left", 60.0)
        forward = describe_change(pose, bent, deterministic=True).lower()
        backward = describe_change(bent, pose, deterministic=True).lower()
        assert re.search(r"bend your left elbow (slightly |much )?more", forward), forward
        assert re.search(r"bend your left elbow (slightly |much )?less|straighten your left arm", backward), backward
        assert no_side_except(forward, "left", "elbow|arm|forearm") and no_side_except(backward, "left", "elbow|arm")


def test_lifting_the_right_knee_is_named(open_arm_poses):
    for pose in open_arm_poses:
        lifted = edits.lift_knee(pose, "right", 0.3)
        assert lifted[J["right_knee"], 1] - pose[J["right_knee"], 1] == pytest.approx(0.3, abs=1e-6)
        forward = describe_change(pose, lifted, deterministic=True).lower()
        backward = describe_change(lifted, pose, deterministic=True).lower()
        assert re.search(r"raise your right (knee|leg)", forward), forward
        assert re.search(r"lower your right (knee|leg)", backward), backward
        assert no_side_except(forward, "right", "knee|leg|thigh|shin|foot")


def test_bringing_the_hands_together_is_named(open_arm_poses):
    for pose in open_arm_poses:
        together = edits.bring_hands_together(pose)
        forward = describe_change(pose, together, deterministic=True).lower()
        backward = describe_change(together, pose, deterministic=True).lower()
        assert re.search(r"your hands[a-z ]* closer together", forward), forward
        assert re.search(r"your hands[a-z ]* farther apart", backward), backward


DIRECTION_PAIRS = (("raise", "lower"), ("forward", "back"), ("to the left", "to the right"), ("closer", "farther"))


def test_swapping_a_and_b_reverses_direction_words(real_pairs):
    a, b = real_pairs
    forward = describe_changes(a, b, deterministic=True)
    backward = describe_changes(b, a, deterministic=True)
    said = 0
    for text_ab, text_ba in zip(forward, backward):
        words_ab, words_ba = Counter(), Counter()
        for one, other in DIRECTION_PAIRS:
            for word in (one, other):
                words_ab[word] = len(re.findall(rf"\b{word}\b", text_ab.lower()))
                words_ba[word] = len(re.findall(rf"\b{word}\b", text_ba.lower()))
            assert (words_ab[one], words_ab[other]) == (words_ba[other], words_ba[one]), (text_ab, text_ba)
        said += sum(words_ab.values())
    assert said > len(forward)  # most pairs say something directional


def test_swapping_a_and_b_reverses_every_paircode(real_pairs):
    a, b = real_pairs
    coords_a = joints.code_joints(joints.normalise(a))
    coords_b = joints.code_joints(joints.normalise(b))
    ab = paircodes.classify_pairs(paircodes.measure_pairs(coords_a, coords_b), None)
    ba = paircodes.classify_pairs(paircodes.measure_pairs(coords_b, coords_a), None)
    last = np.array([len(paircodes.PAIR_OPERATORS[kind][1]) - 1 for kind, _, _ in paircodes.PAIRCODES])
    np.testing.assert_array_equal(ba, last - ab)
