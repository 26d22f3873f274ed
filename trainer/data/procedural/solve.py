"""From a `Body` (local rotations, heading, contacts) to grounded joint positions.

The root is not animated by hand: it is solved so that every foot in contact stays where it
landed (no skating by construction) and the lowest point of the supporting sole touches the
floor. While no foot is in contact the root follows a ballistic arc (g = 9.81 m/s^2) between
take-off and landing, so jump heights follow from flight times. After FK a final clamp lifts
the body wherever any joint would go below the floor.
"""

from __future__ import annotations

import numpy as np

from engine.motion import rotations as R
from engine.motion.kinematics import forward_kinematics as fk
from engine.motion.skeleton import FPS, PARENTS, default_rest_offsets, default_rest_positions

from .body import Y_AXIS, Body, axis_quats, smooth_step
from .footlock import ANKLE, ANKLE_HEIGHT, HEEL_RAISED, TOE, lock_feet, runs

GRAVITY = 9.81  # m/s^2
DT = 1.0 / FPS
_REST = default_rest_positions()


def forward_kinematics(quats: np.ndarray, root: np.ndarray) -> np.ndarray:
    """Joint positions `(T, 22, 3)` of local rotations `(T, 22, 4)` and root positions `(T, 3)`."""
    return np.asarray(fk(quats, root, default_rest_offsets(), PARENTS), dtype=np.float64)


def foot_headings(heading: np.ndarray, contact: np.ndarray) -> np.ndarray:
    """World yaw `(T,)` of one foot: frozen while it is planted, eased to the next landing's heading in swing."""
    frames = len(heading)
    out = heading.copy()
    spans = runs(contact)
    for start, end in spans:
        out[start:end] = heading[start]
    # Swing spans between runs (and before the first / after the last) ease between the values.
    bounds = [(0, 0)] + spans + [(frames, frames)]
    for (_, prev_end), (next_start, _) in zip(bounds[:-1], bounds[1:]):
        if next_start <= prev_end:
            continue
        a = out[prev_end - 1] if prev_end > 0 else heading[prev_end]
        b = heading[next_start] if next_start < frames else heading[-1]
        w = smooth_step((np.arange(prev_end, next_start) - prev_end + 1) / (next_start - prev_end + 1))
        out[prev_end:next_start] = a + (b - a) * w
    return out


def _world_quats(body: Body) -> np.ndarray:
    """Local rotations with the pelvis heading applied and planted feet kept from turning with it."""
    quats = body.quats.copy()
    for foot, hip in ((0, 1), (1, 2)):
        yaw = foot_headings(body.heading, body.contacts[:, foot]) - body.heading
        quats[:, hip] = R.quat_multiply(axis_quats(Y_AXIS, np.degrees(yaw), body.frames), quats[:, hip])
    quats[:, 0] = R.quat_multiply(axis_quats(Y_AXIS, np.degrees(body.heading), body.frames), quats[:, 0])
    return quats


def sole_heights(positions: np.ndarray) -> np.ndarray:
    """Lowest point of each sole `(T, 2)`: the ball of the foot, or the heel under the ankle."""
    heel = positions[:, list(ANKLE), 1] - ANKLE_HEIGHT
    return np.minimum(heel, positions[:, list(TOE), 1])


def _uses_toe(positions: np.ndarray) -> np.ndarray:
    """`(T, 2)` bool: the ball of the foot, not the heel, carries the weight (the heel has lifted)."""
    heel = positions[:, list(ANKLE), 1] - ANKLE_HEIGHT
    return heel > positions[:, list(TOE), 1] + HEEL_RAISED


def _solve_horizontal(local: np.ndarray, body: Body) -> np.ndarray:
    """Root X/Z `(T, 2)` that keeps contact feet fixed; flights keep the velocity (or the given one)."""
    toe = _uses_toe(local)
    root = np.zeros((body.frames, 2))
    velocity = np.zeros(2)
    for t in range(body.frames - 1):
        both = body.contacts[t] & body.contacts[t + 1]
        if both.any():
            # The same point of each foot on both frames (heel or ball, as chosen at frame t).
            joints = np.where(toe[t], TOE, ANKLE)[both]
            step = -(local[t + 1, joints][:, [0, 2]] - local[t, joints][:, [0, 2]]).mean(axis=0)
            velocity = step / DT
        elif np.isfinite(body.flight_velocity[t]).all():
            # The primitive gives the flight velocity facing +Z; turn it to the current heading.
            vx, vz = body.flight_velocity[t, 0], body.flight_velocity[t, 2]
            c, s = np.cos(body.heading[t]), np.sin(body.heading[t])
            step = np.array([vx * c + vz * s, -vx * s + vz * c]) * DT
        else:
            step = velocity * DT  # no foot down: keep going as at take-off
        root[t + 1] = root[t] + step
    return root


def _solve_vertical(local: np.ndarray, body: Body) -> np.ndarray:
    """Root height offsets `(T,)` grounding the supporting sole, ballistic while airborne."""
    soles = sole_heights(local)
    lift = np.where(body.contacts, -soles, np.inf).min(axis=1)
    airborne = ~body.contacts.any(axis=1)
    for start, end in runs(airborne):
        before = lift[start - 1] if start > 0 else -soles[start].min()
        after = lift[end] if end < body.frames else before
        t = np.arange(start - 1, end + 1, dtype=np.float64) - (start - 1)
        span = t[-1]
        arc = before + (after - before) * t / span + 0.5 * GRAVITY * (t * DT) * ((span - t) * DT)
        lift[start:end] = arc[1:-1]
    return lift


def solve(body: Body) -> np.ndarray:
    """Grounded world joint positions `(T, 22, 3)` float64, metres, root X/Z at the origin at frame 0."""
    quats = _world_quats(body)
    base = np.zeros((body.frames, 3))
    base[:, 1] = _REST[0, 1]
    local = forward_kinematics(quats, base)
    root = np.zeros((body.frames, 3))
    root[:, [0, 2]] = _solve_horizontal(local, body)
    lift = _solve_vertical(local, body)
    # Contact switches can step the support height by a few millimetres; a light blur hides it.
    kernel = np.array([0.25, 0.5, 0.25])
    padded = np.pad(lift, 1, mode="edge")
    root[:, 1] = np.convolve(padded, kernel, mode="valid")
    positions = local + root[:, None, :]
    positions = lock_feet(positions, body.contacts)
    # Clamp: nothing goes below the floor, whatever the primitive asked for.
    under = np.minimum(positions[..., 1].min(axis=1), sole_heights(positions).min(axis=1))
    positions[..., 1] -= np.minimum(under, 0.0)[:, None]
    return positions
