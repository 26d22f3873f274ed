"""Heading (yaw about +Y) of canonical poses, and turning motions about the vertical axis.

Every place that faces a pose forward, turns a model's answer onto a rig's heading or lines up a
continuation with its prefix uses these, so the sign convention lives in one file: yaw 0 faces +Z,
a positive yaw turns +Z towards +X (the body's left, seen from above with Y up). The facing is
HumanML3D's (Guo et al. 2022, github.com/EricGuo5513/HumanML3D, motion_representation.ipynb): the
horizontal normal of the line across the hips and shoulders.
"""

from __future__ import annotations

import numpy as np

from engine.motion import skeleton


def heading_angle(poses: np.ndarray) -> np.ndarray:
    """Yaw of each pose, `(N, 22, 3)` -> `(N,)` radians; 0 when the body faces +Z, positive = turned left."""
    r_hip, l_hip, r_sho, l_sho = skeleton.FACE_JOINTS
    across = poses[:, r_hip] - poses[:, l_hip] + poses[:, r_sho] - poses[:, l_sho]
    # forward = up x across; with across pointing to the body's right (-X) this is +Z at rest.
    forward_x, forward_z = across[:, 2], -across[:, 0]
    return np.arctan2(forward_x, forward_z)


def yaw_matrix(yaw: float) -> np.ndarray:
    """Rotation about +Y by `yaw` radians, `(3, 3)`, taking +Z to (sin yaw, 0, cos yaw).

    Points are row vectors: `points @ yaw_matrix(yaw).T`.
    """
    cos, sin = np.cos(yaw), np.sin(yaw)
    return np.array([[cos, 0.0, sin], [0.0, 1.0, 0.0], [-sin, 0.0, cos]])


def turn_about_y(points: np.ndarray, yaw: float, pivot: np.ndarray | None = None) -> np.ndarray:
    """`points` `(..., 3)` turned by `yaw` radians about the vertical line through `pivot` `(3,)`
    (the origin when None); float64, same shape."""
    points = np.asarray(points, dtype=np.float64)
    if pivot is None:
        return points @ yaw_matrix(yaw).T
    pivot = np.array([pivot[0], 0.0, pivot[2]], dtype=np.float64)
    return (points - pivot) @ yaw_matrix(yaw).T + pivot


def face_forward(poses: np.ndarray, yaw: np.ndarray, origin: np.ndarray) -> np.ndarray:
    """Turn each pose by `-yaw` about the vertical line through its `origin` and move that line to
    x = z = 0, so a pose whose heading is `yaw` faces +Z; heights are kept.

    poses `(N, J, 3)`, yaw `(N,)` radians, origin `(N, 3)` -> `(N, J, 3)` float64.
    """
    yaw = np.asarray(yaw, dtype=np.float64)
    cos, sin = np.cos(-yaw)[:, None], np.sin(-yaw)[:, None]
    x = poses[..., 0] - origin[:, None, 0]
    z = poses[..., 2] - origin[:, None, 2]
    out = np.asarray(poses, dtype=np.float64).copy()
    out[..., 0] = cos * x + sin * z
    out[..., 2] = -sin * x + cos * z
    return out
