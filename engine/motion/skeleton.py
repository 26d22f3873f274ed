"""The canonical SMPL-22 skeleton: joint names, parents, kinematic chains, rest pose, mirror map.

Every motion inside the engine lives on this skeleton (HumanML3D conventions: Guo et al.
2022, github.com/EricGuo5513/HumanML3D, `paramUtil.py` `t2m_raw_offsets` and `t2m_kinematic_chain`):
Y up, metres, body facing +Z, the body's left side on +X, 20 frames per second.
"""

from __future__ import annotations

import numpy as np

from engine.protocol_ops import CANONICAL_JOINT_NAMES, CANONICAL_PARENTS

FPS = 20.0  # HumanML3D frame rate; every canonical motion is resampled to it.

JOINT_NAMES: tuple[str, ...] = CANONICAL_JOINT_NAMES  # the wire order (engine/protocol_ops.py)
NUM_JOINTS = len(JOINT_NAMES)
JOINT_INDEX: dict[str, int] = {name: i for i, name in enumerate(JOINT_NAMES)}

PARENTS: tuple[int, ...] = CANONICAL_PARENTS

# HumanML3D's t2m_kinematic_chain: right leg, left leg, spine to head, right arm, left arm.
KINEMATIC_CHAINS: tuple[tuple[int, ...], ...] = (
    (0, 2, 5, 8, 11),
    (0, 1, 4, 7, 10),
    (0, 3, 6, 9, 12, 15),
    (9, 14, 17, 19, 21),
    (9, 13, 16, 18, 20),
)

# HumanML3D's t2m_raw_offsets: unit direction priors of each bone (arms hanging down). The
# 6D rotations of the 263-dim features are measured against these, not against SMPL's T-pose.
T2M_RAW_OFFSETS = np.array(
    [
        [0, 0, 0],
        [1, 0, 0],
        [-1, 0, 0],
        [0, 1, 0],
        [0, -1, 0],
        [0, -1, 0],
        [0, 1, 0],
        [0, -1, 0],
        [0, -1, 0],
        [0, 1, 0],
        [0, 0, 1],
        [0, 0, 1],
        [0, 1, 0],
        [1, 0, 0],
        [-1, 0, 0],
        [0, 0, 1],
        [0, -1, 0],
        [0, -1, 0],
        [0, -1, 0],
        [0, -1, 0],
        [0, -1, 0],
        [0, -1, 0],
    ],
    dtype=np.float64,
)

# Joint positions of the SMPL neutral body in its T-pose (metres, Y up, facing +Z), rounded to
# the millimetre: the default rest skeleton of an average adult.
_SMPL_NEUTRAL_REST = np.array(
    [
        [-0.002, -0.223, 0.028],
        [0.070, -0.314, 0.024],
        [-0.068, -0.315, 0.022],
        [-0.003, -0.109, 0.002],
        [0.104, -0.689, 0.017],
        [-0.106, -0.695, 0.015],
        [0.005, 0.027, 0.005],
        [0.088, -1.086, -0.027],
        [-0.085, -1.082, -0.023],
        [0.001, 0.085, 0.031],
        [0.120, -1.142, 0.093],
        [-0.121, -1.143, 0.098],
        [-0.014, 0.293, -0.007],
        [0.071, 0.189, -0.005],
        [-0.083, 0.188, -0.008],
        [0.010, 0.358, 0.045],
        [0.166, 0.234, -0.012],
        [-0.165, 0.232, -0.013],
        [0.417, 0.223, -0.043],
        [-0.418, 0.225, -0.040],
        [0.681, 0.225, -0.035],
        [-0.683, 0.226, -0.040],
    ],
    dtype=np.float64,
)

LEFT_RIGHT_PAIRS: tuple[tuple[int, int], ...] = (
    (1, 2),
    (4, 5),
    (7, 8),
    (10, 11),
    (13, 14),
    (16, 17),
    (18, 19),
    (20, 21),
)


def _mirror_map() -> tuple[int, ...]:
    mapping = list(range(NUM_JOINTS))
    for left, right in LEFT_RIGHT_PAIRS:
        mapping[left], mapping[right] = right, left
    return tuple(mapping)


# MIRROR_MAP[j] is the joint that j becomes when the body is mirrored (x -> -x).
MIRROR_MAP: tuple[int, ...] = _mirror_map()

FOOT_JOINTS_LEFT = (7, 10)  # left ankle, left foot (HumanML3D fid_l)
FOOT_JOINTS_RIGHT = (8, 11)  # right ankle, right foot (HumanML3D fid_r)
# r_hip, l_hip, r_shoulder, l_shoulder: HumanML3D's face_joint_indx, used to find the facing.
FACE_JOINTS = (2, 1, 17, 16)


def default_rest_positions() -> np.ndarray:
    """Rest (T-pose) joint positions of the default skeleton, `(22, 3)` float64, metres.

    Translated so that the lowest joint touches the floor (y = 0) and the pelvis is at x = z = 0.
    """
    rest = _SMPL_NEUTRAL_REST.copy()
    rest[:, [0, 2]] -= rest[0, [0, 2]]
    rest[:, 1] -= rest[:, 1].min()
    return rest


def offsets_from_positions(positions: np.ndarray) -> np.ndarray:
    """Bone offsets (child minus parent) from joint positions; `(..., 22, 3)` -> `(..., 22, 3)`.

    Row 0 (the root) holds the root position itself.
    """
    positions = np.asarray(positions, dtype=np.float64)
    offsets = positions.copy()
    parents = np.array(PARENTS[1:])
    offsets[..., 1:, :] = positions[..., 1:, :] - positions[..., parents, :]
    return offsets


def default_rest_offsets() -> np.ndarray:
    """Bone offsets of the default rest skeleton, `(22, 3)` float64, metres."""
    return offsets_from_positions(default_rest_positions())


def bone_lengths(positions: np.ndarray) -> np.ndarray:
    """Length of the bone ending at each joint, `(..., 22, 3)` -> `(..., 22)`; root gets 0."""
    offsets = offsets_from_positions(positions)
    lengths = np.linalg.norm(offsets, axis=-1)
    lengths[..., 0] = 0.0
    return lengths


def children_of(joint: int) -> tuple[int, ...]:
    """Direct children of a joint in PARENTS order."""
    return tuple(j for j, p in enumerate(PARENTS) if p == joint)
