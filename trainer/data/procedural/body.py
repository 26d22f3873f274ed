"""Building poses as local joint rotations on the default SMPL-22 rest skeleton.

A `Body` is a track of `T` frames of local rotations `(T, 22, 4)` (w, x, y, z) plus the pelvis
heading (yaw, radians) and per-foot ground contacts. Motion primitives rotate joints on it with
angle curves in degrees; `engine.motion.kinematics` turns it into joint positions later.

Axis conventions on the T-pose rest skeleton (Y up, facing +Z, left side on +X). Every joint's
rest frame is the world frame, so these signs hold in the parent's frame:
- hips: flexion (thigh forward) is -X; left abduction is +Z, right abduction is -Z; yaw is Y.
- knees: flexion (shin backward) is +X.   ankles: dorsiflexion (toes up) is -X.
- spine, neck, head: forward bend is +X; a bend toward the body's right is +Z; twist left is +Y.
- arms: the rest pose holds them out sideways; `neutral_body` lets them hang with the shoulders
  rotated -80 deg (left) / +80 deg (right) about Z. Raising an arm then rotates in the torso frame:
  forward flexion about -X, sideways abduction away from the body about +Z (left) / -Z (right).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from engine.motion import rotations as R
from engine.motion.skeleton import JOINT_INDEX, NUM_JOINTS

J = JOINT_INDEX
SIDES = ("left", "right")
HANG_DEGREES = 80.0  # arms hang a little away from the thighs, as a relaxed standing person's do
X_AXIS = np.array([1.0, 0.0, 0.0])
Y_AXIS = np.array([0.0, 1.0, 0.0])
Z_AXIS = np.array([0.0, 0.0, 1.0])


def side_sign(side: str) -> float:
    """+1 for the left side (on +X), -1 for the right."""
    return 1.0 if side == "left" else -1.0


def axis_quats(axis: np.ndarray, degrees: np.ndarray | float, frames: int) -> np.ndarray:
    """Quaternions `(T, 4)` of rotations about a fixed `axis` by `degrees` (scalar or `(T,)`)."""
    angles = np.broadcast_to(np.radians(np.asarray(degrees, dtype=np.float64)), (frames,))
    axis = np.asarray(axis, dtype=np.float64) / np.linalg.norm(axis)
    return R.axis_angle_to_quat(angles[:, None] * axis[None, :])


@dataclass
class Body:
    """Local rotations `(T, 22, 4)`, pelvis heading `(T,)` radians and contacts `(T, 2)` (left, right).

    `flight_velocity` `(T, 3)` m/s, in the body's heading frame (+Z = where the pelvis faces), is
    how the root moves while no foot touches the floor
    (NaN: carry on at the take-off velocity).
    """

    quats: np.ndarray
    heading: np.ndarray
    contacts: np.ndarray
    flight_velocity: np.ndarray = field(default=None)  # type: ignore[assignment]

    def __post_init__(self) -> None:
        if self.flight_velocity is None:
            self.flight_velocity = np.full((len(self.quats), 3), np.nan)  # NaN: keep the take-off velocity

    @property
    def frames(self) -> int:
        return len(self.quats)

    def rotate(self, joint: str, axis: np.ndarray, degrees: np.ndarray | float) -> Body:
        """Apply a rotation in the joint's parent frame after the ones already there (left-multiply)."""
        j = J[joint]
        self.quats[:, j] = R.quat_multiply(axis_quats(axis, degrees, self.frames), self.quats[:, j])
        return self

    def rotate_local(self, joint: str, axis: np.ndarray, degrees: np.ndarray | float) -> Body:
        """Apply a rotation about an axis fixed in the joint's own frame (right-multiply)."""
        j = J[joint]
        self.quats[:, j] = R.quat_multiply(self.quats[:, j], axis_quats(axis, degrees, self.frames))
        return self


def neutral_body(frames: int) -> Body:
    """A relaxed standing person: arms hanging, elbows slightly bent, feet planted."""
    quats = np.zeros((frames, NUM_JOINTS, 4))
    quats[..., 0] = 1.0
    body = Body(quats, np.zeros(frames), np.ones((frames, 2), dtype=bool))
    for side in SIDES:
        s = side_sign(side)
        body.rotate(f"{side}_shoulder", Z_AXIS, -s * HANG_DEGREES)
        bend_elbow(body, side, 12.0)
    return body


def elbow_axis(side: str) -> np.ndarray:
    """Elbow flexion axis in the upper arm's frame: world -X seen from the hanging arm.

    Fixed in the upper arm, so it follows the arm wherever the shoulder points it; flexing about
    it brings a hanging forearm forward, as an elbow with the palm facing the thigh does.
    """
    hang = axis_quats(Z_AXIS, -side_sign(side) * HANG_DEGREES, 1)
    return R.quat_apply(R.quat_conjugate(hang), -X_AXIS)[0]


def bend_elbow(body: Body, side: str, degrees: np.ndarray | float) -> Body:
    return body.rotate_local(f"{side}_elbow", elbow_axis(side), degrees)


def raise_arm(body: Body, side: str, forward: np.ndarray | float = 0.0, sideways: np.ndarray | float = 0.0) -> Body:
    """Raise a hanging arm: `forward` flexion then `sideways` abduction, degrees (0 = hanging)."""
    s = side_sign(side)
    body.rotate(f"{side}_shoulder", Z_AXIS, s * np.asarray(sideways))
    return body.rotate(f"{side}_shoulder", -X_AXIS, forward)


def leg(
    body: Body,
    side: str,
    hip: np.ndarray | float = 0.0,
    knee: np.ndarray | float = 0.0,
    ankle: np.ndarray | float = 0.0,
    abduct: np.ndarray | float = 0.0,
) -> Body:
    """Leg angles in degrees: hip flexion, knee flexion, ankle dorsiflexion, hip abduction."""
    s = side_sign(side)
    body.rotate(f"{side}_hip", Z_AXIS, s * np.asarray(abduct))
    body.rotate(f"{side}_hip", -X_AXIS, hip)
    body.rotate(f"{side}_knee", X_AXIS, knee)
    return body.rotate(f"{side}_ankle", -X_AXIS, ankle)


def bend_spine(
    body: Body, forward: np.ndarray | float = 0.0, right: np.ndarray | float = 0.0, twist_left: np.ndarray | float = 0.0
) -> Body:
    """Spread a trunk bend over the three spine joints (degrees in total)."""
    for joint, share in (("spine1", 0.4), ("spine2", 0.3), ("spine3", 0.3)):
        body.rotate(joint, Y_AXIS, share * np.asarray(twist_left))
        body.rotate(joint, Z_AXIS, share * np.asarray(right))
        body.rotate(joint, X_AXIS, share * np.asarray(forward))
    return body


def tilt_pelvis(body: Body, forward: np.ndarray | float = 0.0) -> Body:
    """Tilt the whole body forward about the hips' axis (pelvis pitch), degrees."""
    return body.rotate("pelvis", X_AXIS, forward)


def smooth_step(x: np.ndarray) -> np.ndarray:
    """0 -> 1 with zero slope at both ends (cubic Hermite), x clipped to [0, 1]."""
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3.0 - 2.0 * x)


def envelope(frames: int, rise: int, fall: int) -> np.ndarray:
    """`(T,)` weight that eases 0 -> 1 over `rise` frames, holds, and eases back over `fall`."""
    t = np.arange(frames, dtype=np.float64)
    up = smooth_step(t / max(rise, 1))
    down = smooth_step((frames - 1 - t) / max(fall, 1))
    return np.minimum(up, down)


def bump(t: np.ndarray, start: float, end: float) -> np.ndarray:
    """Smooth 0 -> 1 -> 0 between frames `start` and `end` (raised cosine)."""
    x = np.clip((t - start) / max(end - start, 1e-6), 0.0, 1.0)
    return 0.5 - 0.5 * np.cos(2.0 * np.pi * x)
