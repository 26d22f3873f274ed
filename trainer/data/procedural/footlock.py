"""Foot locking: remove what is left of foot sliding after the root solve.

The root solve keeps the average of the supporting feet still; in double support the two feet
can disagree by a few centimetres (angle curves are not an exact closed chain). Here each foot in
contact is pinned where it is planted (heel first, then the ball once the heel lifts), the
ankle and ball of the foot move together by the correction, and the knee is re-solved by
two-bone IK in the leg's own bend plane so every bone keeps its length. After lift-off the
correction fades over a few frames instead of popping.
"""

from __future__ import annotations

import numpy as np

from engine.motion.skeleton import default_rest_positions

ANKLE = (7, 8)  # left, right ankle joints
TOE = (10, 11)  # left, right foot (ball of the foot) joints
# The heel sits about one ankle height under the ankle joint; a sole point below the ankle
# stands in for the heel, which SMPL-22 has no joint for.
ANKLE_HEIGHT = float(default_rest_positions()[list(ANKLE), 1].mean())
HEEL_RAISED = 0.01  # m: above this the heel is off the floor and the ball of the foot carries the weight
LEGS = ((1, 4, 7, 10), (2, 5, 8, 11))  # hip, knee, ankle, ball of the foot; left then right
FADE_FRAMES = 4


def runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """[start, end) index pairs of the True runs of a 1-D bool array."""
    padded = np.concatenate([[False], mask, [False]]).astype(np.int8)
    edges = np.flatnonzero(np.diff(padded))
    return list(zip(edges[0::2], edges[1::2]))


def _corrections(positions: np.ndarray, contact: np.ndarray, ankle: int, toe: int) -> np.ndarray:
    """Horizontal shift `(T, 3)` of one foot that keeps its planted point fixed during contact."""
    frames = len(positions)
    delta = np.zeros((frames, 3))
    heel_up = positions[:, ankle, 1] - ANKLE_HEIGHT > positions[:, toe, 1] + HEEL_RAISED
    for start, end in runs(contact):
        point, target = None, None
        for t in range(start, end):
            p = toe if heel_up[t] else ankle
            if p != point:  # re-anchor where the new point is now (after the correction so far)
                point = p
                target = positions[t, p, [0, 2]] + (delta[t - 1, [0, 2]] if t > start else 0.0)
            delta[t, [0, 2]] = target - positions[t, p, [0, 2]]
        for i in range(1, FADE_FRAMES + 1):
            t = end - 1 + i
            if t >= frames or contact[t]:
                break
            delta[t] = delta[end - 1] * (1.0 - i / (FADE_FRAMES + 1))
    return delta


def _two_bone(
    hip: np.ndarray, knee: np.ndarray, ankle: np.ndarray, target: np.ndarray, front: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """New knee and reachable ankle `(T, 3)` for an ankle target, bones keeping their lengths.

    The knee keeps the bend plane it had, unless that plane would fold it away from `front`
    (where the foot points; real knees bend that way): then it bends towards the front, so a pinned
    foot that ends up ahead of the body straightens the leg instead of hyperextending it.
    """
    l1 = np.linalg.norm(knee - hip, axis=-1, keepdims=True)
    l2 = np.linalg.norm(ankle - knee, axis=-1, keepdims=True)
    to_target = target - hip
    d = np.linalg.norm(to_target, axis=-1, keepdims=True)
    u = to_target / np.maximum(d, 1e-9)
    d = np.clip(d, np.abs(l1 - l2) + 1e-6, l1 + l2 - 1e-6)
    along = (l1**2 - l2**2 + d**2) / (2 * d)
    height = np.sqrt(np.maximum(l1**2 - along**2, 0.0))

    def across(v: np.ndarray) -> np.ndarray:
        return v - np.sum(v * u, axis=-1, keepdims=True) * u

    bend = across(knee - hip)
    backwards = np.sum(bend * front, axis=-1, keepdims=True) <= 0.0
    bend = np.where(backwards, across(front), bend)
    bend = bend / np.maximum(np.linalg.norm(bend, axis=-1, keepdims=True), 1e-9)
    return hip + along * u + height * bend, hip + d * u


def lock_feet(positions: np.ndarray, contacts: np.ndarray) -> np.ndarray:
    """Pin contact feet: `(T, 22, 3)` positions and `(T, 2)` contacts -> corrected positions."""
    out = positions.copy()
    for side, (hip, knee, ankle, toe) in enumerate(LEGS):
        delta = _corrections(positions, contacts[:, side], ankle, toe)
        moved = np.abs(delta).sum(axis=-1) > 0
        if not moved.any():
            continue
        front = out[moved, toe] - out[moved, ankle]
        new_knee, new_ankle = _two_bone(
            out[moved, hip], out[moved, knee], out[moved, ankle], out[moved, ankle] + delta[moved], front
        )
        shift = new_ankle - out[moved, ankle]
        out[moved, knee] = new_knee
        out[moved, ankle] = new_ankle
        out[moved, toe] = out[moved, toe] + shift
    return out
