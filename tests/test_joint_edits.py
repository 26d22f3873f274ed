"""Single-joint edits of real poses (trainer.data.joint_edits), on the bundled real Bandai clip."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from engine.describe.joints import normalise
from engine.motion.skeleton import JOINT_INDEX, PARENTS
from trainer.data.joint_edits import edit_hinge, edit_swing, hinge_angle, joint_edit_pairs

SAMPLE = Path(__file__).resolve().parents[1] / "engine/assets/samples/dataset-2_walk_active_009.bvh"


@pytest.fixture(scope="module")
def frames() -> np.ndarray:
    from engine.formats.canonical import load_motion

    return normalise(load_motion(SAMPLE, preset="bandai").positions.astype(np.float64))


def bone_lengths(poses: np.ndarray) -> np.ndarray:
    return np.linalg.norm(poses[..., 1:, :] - poses[..., list(PARENTS[1:]), :], axis=-1)


def test_hinge_edit_reaches_its_angle_and_moves_only_the_lower_limb(frames):
    rng = np.random.default_rng(0)
    knee = [JOINT_INDEX[n] for n in ("left_hip", "left_knee", "left_ankle")]
    done = 0
    for pose in frames[::7]:
        edited = edit_hinge(pose, "left", "leg", rng)
        if edited is None:
            continue
        done += 1
        assert 40.0 - 2.0 <= hinge_angle(edited, *knee) <= 178.0 + 2.0
        moved = np.flatnonzero(np.linalg.norm(edited - pose, axis=-1) > 1e-6)
        assert set(moved) <= {JOINT_INDEX["left_ankle"], JOINT_INDEX["left_foot"]}
        np.testing.assert_allclose(bone_lengths(edited), bone_lengths(pose), atol=1e-9)
    assert done >= 3


def test_forward_leg_swing_lifts_the_knee(frames):
    rng = np.random.default_rng(1)
    pose = frames[0]
    lifts = []
    for _ in range(40):
        edited = edit_swing(pose, "right", "leg", rng)
        delta = edited[JOINT_INDEX["right_knee"]] - pose[JOINT_INDEX["right_knee"]]
        untouched = [
            j
            for j in range(22)
            if j not in (JOINT_INDEX["right_knee"], JOINT_INDEX["right_ankle"], JOINT_INDEX["right_foot"])
        ]
        np.testing.assert_allclose(edited[untouched], pose[untouched])
        lifts.append(delta[1] > 0.02 and delta[2] > 0.02)  # forwards swings raise the knee in front
    assert 0.2 < np.mean(lifts) < 0.9


def test_pairs_are_described_and_keep_the_skeleton(frames):
    pairs = joint_edit_pairs(frames, 60, seed=2)
    assert 40 <= len(pairs) <= 60  # a few draws describe no visible change and are dropped
    np.testing.assert_allclose(bone_lengths(pairs.pose_b), bone_lengths(pairs.pose_a), atol=1e-5)
    texts = [t[0] for t in pairs.texts]
    assert all(t.strip() for t in texts)
    assert sum(("knee" in t or "leg" in t or "foot" in t) for t in texts) >= 10
    assert sum(("elbow" in t or "arm" in t or "hand" in t) for t in texts) >= 10
