"""Closed-chain leg placement: put each ankle where it must be for a given pelvis pose.

Squats, lunges, sitting and crouching keep both feet on the floor while the pelvis moves; angle
curves alone would make the feet slide. Rotations about X (hip and knee flexion) leave a bone's X
component alone, so placing the ankle in the sagittal (Y, Z) plane is an exact two-bone problem,
solved here in closed form (law of cosines) on the rest skeleton's own bone vectors. Hand-written
because it is ten lines of planar geometry; no library solves this exact convention.
"""

from __future__ import annotations

import numpy as np

from engine.motion.skeleton import default_rest_offsets, default_rest_positions

from .body import X_AXIS, Body

_OFFSETS = default_rest_offsets()
_REST = default_rest_positions()


def _angle(v: np.ndarray) -> np.ndarray:
    """Angle of (y, z) vectors in the X-rotation sense: Rx(a) (0,-1,0) has angle a."""
    return np.arctan2(-v[..., 1], -v[..., 0])


def _rotate(v: np.ndarray, angle: np.ndarray) -> np.ndarray:
    """Rotate (y, z) vectors about +X by `angle` radians."""
    c, s = np.cos(angle), np.sin(angle)
    return np.stack([v[..., 0] * c - v[..., 1] * s, v[..., 0] * s + v[..., 1] * c], axis=-1)


def leg_angles(target: np.ndarray, side: str) -> tuple[np.ndarray, np.ndarray]:
    """X-rotations (radians) of hip and knee putting the ankle at `target` `(T, 2)` (y, z) from the hip.

    Returns `(hip, knee)`, `(T,)` each; knee > 0 is flexion. Out-of-reach targets get a straight leg.
    """
    hip_j, knee_j, ankle_j = (1, 4, 7) if side == "left" else (2, 5, 8)
    u1 = _OFFSETS[knee_j, 1:]
    u2 = _OFFSETS[ankle_j, 1:]
    l1, l2 = np.linalg.norm(u1), np.linalg.norm(u2)
    reach = np.clip(np.linalg.norm(target, axis=-1), abs(l1 - l2) + 1e-3, l1 + l2 - 1e-4)
    rest_bend = _angle(u2) - _angle(u1)  # the rest shin is already turned a little from the thigh
    inner = np.arccos(np.clip((reach**2 - l1**2 - l2**2) / (2 * l1 * l2), -1.0, 1.0))
    knee = np.maximum(inner - rest_bend, 0.0)
    chain = u1 + _rotate(np.broadcast_to(u2, target.shape), knee)
    hip = _angle(target) - _angle(chain)
    return hip, knee


def heel_lift(side: str, degrees: np.ndarray) -> np.ndarray:
    """Where the ankle goes `(T, 2)` (up, forward) when the heel rises by `degrees` about the ball of the foot."""
    toe_j = 10 if side == "left" else 11
    ankle_from_toe = -_OFFSETS[toe_j, 1:]
    turned = _rotate(np.broadcast_to(ankle_from_toe, (len(degrees), 2)), np.radians(degrees))
    return turned - ankle_from_toe


def place_legs(
    body: Body,
    pelvis_drop: np.ndarray,
    pelvis_forward: np.ndarray,
    pitch: np.ndarray,
    ankle_shift: dict[str, np.ndarray] | None = None,
    flat_feet: bool = True,
    heel_raise: dict[str, np.ndarray] | None = None,
) -> Body:
    """Move the pelvis (metres, `(T,)`, down and forward from standing) and pitch it forward
    (`(T,)` degrees) while each ankle goes to its rest spot plus `ankle_shift[side]` `(T, 2)` (up, forward).

    Feet stay flat on the floor (ankle counter-rotates) unless `flat_feet` is False;
    `heel_raise[side]` `(T,)` degrees lifts that heel, the ball of the foot staying down.
    """
    frames = body.frames
    pitch_rad = np.radians(np.broadcast_to(pitch, (frames,)))
    body.rotate("pelvis", X_AXIS, np.degrees(pitch_rad))
    pelvis = np.stack(
        [
            _REST[0, 1] - np.broadcast_to(pelvis_drop, (frames,)),
            np.broadcast_to(pelvis_forward, (frames,)) + _REST[0, 2],
        ],
        axis=-1,
    )
    for side in ("left", "right"):
        hip_j, ankle_j = (1, 7) if side == "left" else (2, 8)
        hip_pos = pelvis + _rotate(np.broadcast_to(_OFFSETS[hip_j, 1:], (frames, 2)), pitch_rad)
        ankle = np.broadcast_to(_REST[ankle_j, 1:], (frames, 2)).copy()
        if ankle_shift and side in ankle_shift:
            ankle += ankle_shift[side]
        lift = np.zeros(frames)
        if heel_raise and side in heel_raise:
            lift = np.broadcast_to(heel_raise[side], (frames,)).astype(np.float64)
            ankle += heel_lift(side, lift)
        hip, knee = leg_angles(_rotate(ankle - hip_pos, -pitch_rad), side)
        body.rotate(f"{side}_hip", X_AXIS, np.degrees(hip))
        body.rotate(f"{side}_knee", X_AXIS, np.degrees(knee))
        if flat_feet:
            body.rotate(f"{side}_ankle", X_AXIS, lift - np.degrees(pitch_rad + hip + knee))
    return body
