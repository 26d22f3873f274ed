"""The shipped default pose editor follows short commands on a real pose (deterministic: prior mean).

Thresholds are well under what it does (see engine/assets/default_bundle/pose_editor/TRAINING.md);
a retrained editor that stops following plain commands fails here.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from engine.describe.joints import normalise
from engine.formats.canonical import load_motion
from engine.models.pose_codec import positions_to_sixd, sixd_to_positions
from engine.models.pose_editor import PoseEditor
from engine.motion.skeleton import JOINT_INDEX

ROOT = Path(__file__).resolve().parents[1]
EDITOR = ROOT / "engine/assets/default_bundle/pose_editor"
CLIP = ROOT / "engine/assets/samples/dataset-2_raise-up-right-hand_active_010.bvh"


@pytest.fixture(scope="module")
def standing():
    """Frame 0 of a real Bandai clip (standing, arms down) as the editor sees it: 6D rotations `(1, 22, 6)`
    and their FK positions `(22, 3)`."""
    torch.set_num_threads(1)
    positions = load_motion(CLIP, preset="bandai").positions[:1].astype(np.float64)
    sixd = torch.from_numpy(positions_to_sixd(normalise(positions)))
    return sixd, sixd_to_positions(sixd)[0].numpy()


@pytest.mark.parametrize(
    "text, joint, axis, sign, metres",
    [
        ("Raise your left hand.", "left_wrist", 1, +1, 0.10),
        ("Lift your right knee.", "right_knee", 1, +1, 0.05),
        ("Move your right foot forward.", "right_ankle", 2, +1, 0.10),
    ],
)
def test_named_joint_moves_the_named_way(standing, text, joint, axis, sign, metres):
    sixd, before = standing
    editor = PoseEditor.load(EDITOR)
    after = sixd_to_positions(editor.sample(sixd, [text]))[0].numpy()
    moved = sign * (after[JOINT_INDEX[joint], axis] - before[JOINT_INDEX[joint], axis])
    assert moved >= metres, f"{text!r} moved {joint} by {moved:.3f} m"
    # the other arm stays where it was for an arm command, and the far foot for a leg command
    other = {"left_wrist": "right_wrist", "right_knee": "left_ankle", "right_ankle": "left_ankle"}[joint]
    assert np.linalg.norm(after[JOINT_INDEX[other]] - before[JOINT_INDEX[other]]) < moved
