"""Single-joint edits of real poses: pose-editor pairs where exactly one limb segment moved.

Why: mined pairs (PoseFix's method) are two real poses that differ almost everywhere, and leg lifts
are rare in Bandai + procedural motion, so the editor learned "raise your arm" but not "lift your left
knee" or "bend your left knee" (0 of 10 test poses moved the knee 5 cm). Rotating one joint of a
real pose A gives a pose B that differs only where an animator's one-clause request would change
it. B keeps A's bone lengths (each edit rotates a rigid subtree about its joint); angles are kept in
human ranges (hinge joints between 40 and 178 degrees, flexion and raises within the ranges below).
Texts come from the same automatic describer as every other pair (engine.describe).

Frames: A faces +Z (heading removed), +X is the body's left, Y up; metres.
"""

from __future__ import annotations

import numpy as np
from scipy.spatial.transform import Rotation

from engine.motion.skeleton import JOINT_INDEX, PARENTS
from trainer.data.pair_texts import PairTexts, described_pairs

X_AXIS, Z_AXIS = np.array([1.0, 0.0, 0.0]), np.array([0.0, 0.0, 1.0])


def _subtree(joint: int) -> list[int]:
    """`joint` and every joint below it in the SMPL-22 tree."""
    found = [joint]
    for child, parent in enumerate(PARENTS):
        if parent in found and child not in found:
            found.append(child)
    return found


def rotate_subtree(pose: np.ndarray, pivot: int, moved: list[int], axis: np.ndarray, degrees: float) -> np.ndarray:
    """Rotate joints `moved` of `(22, 3)` `pose` about joint `pivot` by `degrees` around unit `axis`."""
    out = pose.copy()
    rotation = Rotation.from_rotvec(np.radians(degrees) * axis / np.linalg.norm(axis))
    out[moved] = rotation.apply(pose[moved] - pose[pivot]) + pose[pivot]
    return out


def hinge_angle(pose: np.ndarray, upper: int, middle: int, lower: int) -> float:
    """Interior angle (degrees) at `middle` between the segments to `upper` and `lower`: 180 = straight."""
    a, b = pose[upper] - pose[middle], pose[lower] - pose[middle]
    cosine = a @ b / max(1e-9, np.linalg.norm(a) * np.linalg.norm(b))
    return float(np.degrees(np.arccos(np.clip(cosine, -1.0, 1.0))))


def _hinge_axis(pose: np.ndarray, upper: int, middle: int, lower: int, fallback: np.ndarray) -> np.ndarray:
    """Normal of the limb's plane, oriented so that a positive rotation of the lower segment bends the
    hinge further; `fallback` for a straight limb."""
    to_upper, to_lower = pose[upper] - pose[middle], pose[lower] - pose[middle]
    normal = np.cross(to_lower, to_upper)
    return normal / np.linalg.norm(normal) if np.linalg.norm(normal) > 0.02 else fallback


def edit_hinge(pose: np.ndarray, side: str, limb: str, rng: np.random.Generator) -> np.ndarray | None:
    """Bend or straighten a knee or elbow to a random angle between 40 and 178 degrees."""
    names = ("hip", "knee", "ankle") if limb == "leg" else ("shoulder", "elbow", "wrist")
    upper, middle, lower = (JOINT_INDEX[f"{side}_{n}"] for n in names)
    current = hinge_angle(pose, upper, middle, lower)
    target = float(rng.uniform(40.0, 178.0))
    if abs(target - current) < 15.0:
        return None
    # Straight limbs bend the natural way: the shin backwards (-X axis turns it to -Z), the forearm forwards.
    fallback = X_AXIS if limb == "leg" else -X_AXIS
    axis = _hinge_axis(pose, upper, middle, lower, fallback)
    edited = rotate_subtree(pose, middle, _subtree(lower), axis, current - target)
    return edited if abs(hinge_angle(edited, upper, middle, lower) - target) < 2.0 else None


def edit_swing(pose: np.ndarray, side: str, limb: str, rng: np.random.Generator) -> np.ndarray:
    """Swing a whole leg at the hip or a whole arm at the shoulder: forwards/backwards or out/in."""
    joint = JOINT_INDEX[f"{side}_{'hip' if limb == 'leg' else 'shoulder'}"]
    outward = 1.0 if side == "left" else -1.0  # rotation about +Z that moves the limb away from the body
    if rng.random() < 0.6:  # forwards (flexion) or backwards, about the lateral axis
        forward = rng.random() < (0.75 if limb == "leg" else 0.6)
        degrees = rng.uniform(15.0, 90.0 if limb == "leg" else 120.0) if forward else rng.uniform(10.0, 35.0)
        return rotate_subtree(pose, joint, _subtree(joint)[1:], X_AXIS, -degrees if forward else degrees)
    out = rng.random() < 0.7
    degrees = rng.uniform(10.0, 40.0 if limb == "leg" else 100.0) if out else rng.uniform(10.0, 25.0)
    return rotate_subtree(pose, joint, _subtree(joint)[1:], Z_AXIS, outward * degrees * (1 if out else -1))


def joint_edit(pose: np.ndarray, rng: np.random.Generator) -> np.ndarray | None:
    """One random single-joint edit of a `(22, 3)` pose (None when the draw was too small a change)."""
    side = "left" if rng.random() < 0.5 else "right"
    limb = "leg" if rng.random() < 0.5 else "arm"
    if rng.random() < 0.5:
        return edit_hinge(pose, side, limb, rng)
    return edit_swing(pose, side, limb, rng)


def joint_edit_pairs(frames: np.ndarray, count: int, seed: int = 0) -> PairTexts:
    """`count` pairs (A, B) from random rows of `frames` `(N, 22, 3)` (A faces +Z), each B one
    joint edit of A, labelled by engine.describe (pairs it finds unchanged are dropped)."""
    rng = np.random.default_rng(seed)
    a_list, b_list = [], []
    while len(a_list) < count and len(frames):
        pose = np.asarray(frames[int(rng.integers(len(frames)))], np.float64)
        edited = joint_edit(pose, rng)
        if edited is not None:
            a_list.append(pose)
            b_list.append(edited)
    if not a_list:
        return PairTexts.concat([])
    return described_pairs(np.stack(a_list), np.stack(b_list), seed)
