"""Physical plausibility of a motion from its joint positions: foot skating, floor penetration, jitter.

Input everywhere: `(T, 22, 3)` joint positions in metres, Y up, floor at y = 0 (the HumanML3D
convention: the recovered root height puts the lowest foot of the clip on the floor), 20 fps.

- Foot skating ratio (GMD, Karunratanakul et al. 2023): share of frame transitions in which a foot
  joint stays within `contact_height` of the floor in both frames yet slides more than
  `skate_distance` horizontally.
- Floor penetration: mean (and max) depth below the floor of the lowest joint, over frames.
- Jitter: mean magnitude of the third time derivative of joint positions (jerk, m/s^3), the
  smoothness measure used by e.g. PhysDiff and motion-in-betweening papers.
"""

from __future__ import annotations

import numpy as np

from engine.motion import skeleton as S

CONTACT_HEIGHT = 0.05  # m; GMD's foot-contact height threshold
SKATE_DISTANCE = 0.025  # m per frame transition; GMD's skating threshold at 20 fps
FOOT_JOINTS = S.FOOT_JOINTS_LEFT + S.FOOT_JOINTS_RIGHT


def _check(joints: np.ndarray) -> np.ndarray:
    joints = np.asarray(joints, np.float64)
    if joints.ndim != 3 or joints.shape[-1] != 3:
        raise ValueError(f"joints must have shape (T, J, 3); got {joints.shape}")
    return joints


def foot_skating_ratio(
    joints: np.ndarray,
    contact_height: float = CONTACT_HEIGHT,
    skate_distance: float = SKATE_DISTANCE,
    feet: tuple[int, ...] = FOOT_JOINTS,
) -> float:
    """Share of (frame transition, foot joint) samples that skate; 0.0 for a one-frame motion."""
    joints = _check(joints)
    if len(joints) < 2:
        return 0.0
    feet_xyz = joints[:, list(feet)]  # (T, F, 3)
    grounded = feet_xyz[..., 1] < contact_height  # (T, F)
    in_contact = grounded[1:] & grounded[:-1]  # (T-1, F)
    slide = np.linalg.norm(np.diff(feet_xyz[..., [0, 2]], axis=0), axis=-1)  # (T-1, F) horizontal
    return float((in_contact & (slide > skate_distance)).mean())


def floor_penetration(joints: np.ndarray, floor: float = 0.0) -> dict[str, float]:
    """Depth (m) of the lowest joint below `floor`, per frame: its mean and max over frames."""
    joints = _check(joints)
    depth = np.maximum(floor - joints[..., 1].min(axis=1), 0.0)  # (T,)
    return {"mean": float(depth.mean()), "max": float(depth.max())}


def jitter(joints: np.ndarray, fps: float = S.FPS) -> float:
    """Mean jerk magnitude (m/s^3) over frames and joints; 0.0 below four frames."""
    joints = _check(joints)
    if len(joints) < 4:
        return 0.0
    jerk = np.diff(joints, n=3, axis=0) * fps**3  # (T-3, J, 3)
    return float(np.linalg.norm(jerk, axis=-1).mean())


def plausibility(motions: list[np.ndarray], fps: float = S.FPS) -> dict[str, float]:
    """The three measures averaged over a list of `(T, 22, 3)` motions (each motion weighs the same)."""
    if not motions:
        raise ValueError("plausibility needs at least one motion")
    return {
        "skating": float(np.mean([foot_skating_ratio(m) for m in motions])),
        "penetration_m": float(np.mean([floor_penetration(m)["mean"] for m in motions])),
        "jitter": float(np.mean([jitter(m, fps) for m in motions])),
    }
