"""Input checks, heading normalisation and PoseScript's virtual joints for the describers.

PoseScript/PoseFix (Delmas et al. 2022/2023; github.com/naver/posescript, `src/text2pose/posescript/utils.py`
`JOINT_NAMES`) compute their codes on 35 named
points: the 22 SMPL body joints, the two `middle2` finger joints and 11 virtual joints (midpoints).
Our canonical poses have only the 22 body joints, so `middle2` is a "prosthesis" placed
`MIDDLE2_OFFSET` metres past the wrist along the elbow->wrist direction, as PoseScript itself does
when it is given 22 joints.

Frame: Y up, metres, the body facing +Z, its left on +X (engine/motion/skeleton.py).
"""

from __future__ import annotations

import numpy as np

from engine.errors import InputError
from engine.motion import skeleton
from engine.motion.heading import face_forward, heading_angle

# Mean wrist->middle2 distance PoseScript measured on 20k poses (posefix.md 1.3).
MIDDLE2_OFFSET = 0.1367
# A bone shorter than this (metres) is treated as collapsed: directions along it are undefined.
MIN_BONE_LENGTH = 1e-4

CODE_JOINT_NAMES: tuple[str, ...] = skeleton.JOINT_NAMES + (
    "left_middle2",
    "right_middle2",
    "left_hand",
    "right_hand",
    "torso",
    "left_thigh",
    "right_thigh",
    "left_shin",
    "right_shin",
    "left_upperarm",
    "right_upperarm",
    "left_forearm",
    "right_forearm",
)
CJ: dict[str, int] = {name: i for i, name in enumerate(CODE_JOINT_NAMES)}
NUM_CODE_JOINTS = len(CODE_JOINT_NAMES)

_J = skeleton.JOINT_INDEX
# (virtual joint, the joints it is the mean of), in CODE_JOINT_NAMES order after the middle2s.
_MIDPOINTS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("left_hand", ("left_wrist", "left_middle2")),
    ("right_hand", ("right_wrist", "right_middle2")),
    ("torso", ("pelvis", "neck", "spine3")),
    ("left_thigh", ("left_hip", "left_knee")),
    ("right_thigh", ("right_hip", "right_knee")),
    ("left_shin", ("left_knee", "left_ankle")),
    ("right_shin", ("right_knee", "right_ankle")),
    ("left_upperarm", ("left_shoulder", "left_elbow")),
    ("right_upperarm", ("right_shoulder", "right_elbow")),
    ("left_forearm", ("left_elbow", "left_wrist")),
    ("right_forearm", ("right_elbow", "right_wrist")),
)


def validate_poses(poses: np.ndarray, name: str) -> np.ndarray:
    """Check a batch of poses and return it as float64 `(N, 22, 3)`.

    Accepts `(22, 3)` or `(N, 22, 3)`. Raises InputError naming `name` for a wrong shape,
    non-finite values or a collapsed (zero-length) bone.
    """
    try:
        array = np.asarray(poses, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise InputError(
            f"{name} is not a numeric array ({error}); pass joint positions of shape (22, 3) in metres."
        ) from None
    if array.ndim == 2:
        array = array[None]
    if array.ndim != 3 or array.shape[1:] != (skeleton.NUM_JOINTS, 3):
        raise InputError(
            f"{name} has shape {tuple(np.shape(poses))}, but a pose must be "
            f"({skeleton.NUM_JOINTS}, 3) SMPL-22 joint positions (or a batch "
            f"(N, {skeleton.NUM_JOINTS}, 3)); convert the motion to the canonical skeleton first."
        )
    bad = ~np.isfinite(array).all(axis=(1, 2))
    if bad.any():
        raise InputError(
            f"{name} contains NaN or infinite coordinates (pose {int(np.argmax(bad))}); "
            f"fix or drop those frames before describing them."
        )
    lengths = skeleton.bone_lengths(array)[:, 1:]
    short = lengths < MIN_BONE_LENGTH
    if short.any():
        pose, bone = np.argwhere(short)[0]
        joint = skeleton.JOINT_NAMES[bone + 1]
        raise InputError(
            f"{name} has a zero-length bone ending at joint '{joint}' (pose {int(pose)}): "
            f"two joints coincide, so the pose cannot be described; check the skeleton mapping."
        )
    return array


def normalise(poses: np.ndarray) -> np.ndarray:
    """Rotate each pose about Y to face +Z, centre the pelvis at x = z = 0, put the lowest joint at y = 0.

    `(N, 22, 3)` -> `(N, 22, 3)` float64. Translation carries no meaning for the codes (PoseFix drops
    it); heights are taken from the lowest joint so that a crouch lowers the hands, not the feet.
    """
    out = face_forward(poses, heading_angle(poses), poses[:, 0])
    out[..., 1] = poses[..., 1] - poses[..., 1].min(axis=1, keepdims=True)
    return out


def code_joints(poses: np.ndarray) -> np.ndarray:
    """The 35 PoseScript points from normalised 22-joint poses: `(N, 22, 3)` -> `(N, 35, 3)` float64."""
    n = poses.shape[0]
    out = np.empty((n, NUM_CODE_JOINTS, 3))
    out[:, : skeleton.NUM_JOINTS] = poses
    for side in ("left", "right"):
        elbow, wrist = poses[:, _J[f"{side}_elbow"]], poses[:, _J[f"{side}_wrist"]]
        forearm = wrist - elbow
        unit = forearm / np.linalg.norm(forearm, axis=-1, keepdims=True)
        out[:, CJ[f"{side}_middle2"]] = wrist + MIDDLE2_OFFSET * unit
    for name, parts in _MIDPOINTS:
        out[:, CJ[name]] = out[:, [CJ[p] for p in parts]].mean(axis=1)
    return out


def mirror_poses(poses: np.ndarray) -> np.ndarray:
    """Mirror poses through the body's sagittal plane (x -> -x, left <-> right joints). `(..., 22, 3)`."""
    mirrored = np.asarray(poses, dtype=np.float64)[..., list(skeleton.MIRROR_MAP), :].copy()
    mirrored[..., 0] *= -1.0
    return mirrored
