"""Automatic pose descriptions (PoseScript posecodes) and pose-change instructions (PoseFix paircodes).

    >>> from engine.describe import describe_pose, describe_change
    >>> describe_pose(positions, deterministic=True)         # positions (22, 3) metres, Y up
    'The torso and the legs are vertical. The elbows are slightly bent. ...'
    >>> describe_change(pose_a, pose_b, deterministic=True)
    'Bend your left elbow more. Your left elbow should be bent at a right angle. ...'

Batched variants `describe_poses` / `describe_changes` take `(N, 22, 3)` arrays; the codes are
evaluated in numpy over the whole batch. Randomness (measurement noise, skips, templates, order)
comes from `numpy.random.default_rng(seed)`; `deterministic=True` gives stable text.

Rules and bins follow PoseScript (Delmas et al. 2022) and PoseFix (Delmas et al. 2023), both in
github.com/naver/posescript: `src/text2pose/posescript/{posecodes,captioning_data,captioning}.py` and
`src/text2pose/posefix/{paircodes,corrective_data,correcting}.py`. Not implemented: PoseScript's two
ripple-effect pruning rules, the 144 "aligned" super-posecodes, BABEL/dance sentences, and the
head/body-incline codes of PoseScript's `main` branch (SMPL-22 positions carry no head rotation).
Finger joints are approximated (engine/describe/joints.py).
"""

from engine.describe.captioner import describe_pose, describe_poses
from engine.describe.corrector import describe_change, describe_changes
from engine.describe.templates import NO_CHANGE, SAME_POSES

__all__ = ["describe_pose", "describe_poses", "describe_change", "describe_changes", "NO_CHANGE", "SAME_POSES"]
