"""Where a motion stands on a rig: the heading and place of its first frame, and putting a motion
that the models give back at the origin (facing +Z) onto that heading and place.

The `rig_to_canonical` op reads an animator's pose in the rig's own frame (canonical axes, metres,
relative to the rig's rest origin: see engine/rig/retarget.py `rig_pose_to_canonical`), so the
character keeps its place and heading. Models forget both: the pose editor turns pose A to face +Z
and answers a pose at the origin (PoseFix drops translation); motion models decode from the origin,
facing +Z. `placement_of` measures frame 0 of what was read; `retarget(..., placement)` turns the
model's answer by the yaw, keys it, then shifts the root track by the offset in rig units.

Motions that already lie in the rig's frame (predict, inbetween) keep their place with `keep_place`
(retarget's `in_place` argument), and `follow_key` makes the first key's quaternion signs agree with
the animator's key it follows (retarget's `previous_key` array), so the add-on does no maths.

`heads_to_canonical` maps bone heads Blender evaluated (constraints included) into the same rig
frame as `rig_pose_to_canonical`, for the add-on, which sends heads rather than keys.

The offset is added to the root track rather than to the positions because retarget scales the
motion's pelvis by rig leg length / motion leg length about the origin: an edited pose on the
editor's default skeleton (other proportions) would drift by scale * offset far from the origin.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from engine.errors import InputError
from engine.motion.heading import heading_angle, turn_about_y
from engine.motion.rotations import quat_fix
from engine.rig.description import RigDescription

MAX_OFFSET_METRES = 1.0e5  # 100 km: beyond this a float32 pose key loses millimetres


def placement_of(positions: np.ndarray) -> dict[str, Any]:
    """Heading and place of frame 0 of `(T, 22, 3)` (or one `(22, 3)`) positions, metres, Y up.

    Returns {"yaw": radians (0 = facing +Z, positive = turned towards +X, HumanML3D's facing of
    hips and shoulders), "offset": [pelvis x, lowest joint y, pelvis z] in metres}.
    """
    first = np.asarray(positions, dtype=np.float64).reshape(-1, 22, 3)[0]
    yaw = float(heading_angle(first[None])[0])
    return {"yaw": yaw, "offset": [float(first[0, 0]), float(first[:, 1].min()), float(first[0, 2])]}


def check_placement(value: Any) -> tuple[float, np.ndarray]:
    """(yaw, offset `(3,)`) of a placement argument; InputError naming what is wrong."""
    if not isinstance(value, Mapping) or set(value) != {"yaw", "offset"}:
        raise InputError(
            'placement must be an object {"yaw": radians, "offset": [x, y, z]} as rig_to_canonical returns it.'
        )
    yaw, offset = value["yaw"], value["offset"]
    if isinstance(yaw, bool) or not isinstance(yaw, (int, float)) or not np.isfinite(yaw):
        raise InputError(f"placement: 'yaw' must be a finite number of radians, got {yaw!r}.")
    if (
        not isinstance(offset, list)
        or len(offset) != 3
        or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in offset)
    ):
        raise InputError(f"placement: 'offset' must be a list of 3 numbers (metres), got {offset!r}.")
    offset = np.asarray(offset, dtype=np.float64)
    if not np.isfinite(offset).all() or np.abs(offset).max() > MAX_OFFSET_METRES:
        raise InputError(
            f"placement: 'offset' must be finite metres within {MAX_OFFSET_METRES:g}, got {offset.tolist()}."
        )
    return float(yaw), offset


def keep_place(positions: np.ndarray) -> dict[str, Any]:
    """The placement that leaves `(T, 22, 3)` positions where they are: heading kept (yaw 0), frame
    0's pelvis x/z and lowest joint height as the offset.

    For motions already in the rig's frame (predict and inbetween answers continue what
    rig_to_canonical read). Without a placement, retarget scales the pelvis track about the canonical
    origin (rig leg length / motion leg length, engine/rig/retarget.py): a motion 8 m from the origin
    with scale 1.1 would start 0.8 m away from the rig. With it, frame 0 goes to the origin, is
    scaled there, and the offset is added back to the root track after.
    """
    return {"yaw": 0.0, "offset": placement_of(positions)["offset"]}


def placement_arg(args: Mapping[str, Any], positions: np.ndarray) -> tuple[float, np.ndarray] | None:
    """(yaw, offset `(3,)`) that retarget's `placement` or `in_place` argument asks for, or None."""
    if args.get("in_place") and "placement" in args:
        raise InputError("retarget: send either 'placement' or 'in_place': true, not both.")
    if args.get("in_place"):
        return check_placement(keep_place(positions))
    return check_placement(args["placement"]) if "placement" in args else None


def follow_key(rotations: np.ndarray, previous: np.ndarray) -> np.ndarray:
    """Rotations `(T, N, 4)` (w, x, y, z), sign-continuous over time, with each bone's track negated
    where its first key points away from `previous` `(N, 4)`, the key the motion follows.

    q and -q are one rotation, but F-curves interpolate components: a sign jump between the
    animator's key and the first new one would turn the bone the long way round.
    """
    previous = np.asarray(previous, dtype=np.float64)
    return quat_fix(np.concatenate([previous[None], np.asarray(rotations, dtype=np.float64)]))[1:]


def turn_to(positions: np.ndarray, yaw: float) -> np.ndarray:
    """Frame 0's pelvis to x = z = 0 and lowest joint to y = 0, then turn by `yaw` about +Y.

    `(T, 22, 3)` -> `(T, 22, 3)` float64. The motion's own heading is kept (an edit that turns the
    body stays turned): `yaw` is added to it, as the model's +Z is the read pose's facing.
    """
    positions = np.asarray(positions, dtype=np.float64)
    first = positions[0]
    moved = positions - np.array([first[0, 0], first[:, 1].min(), first[0, 2]])
    return turn_about_y(moved, yaw)  # the inverse of describe.joints.normalise


def root_track_offset(rig: RigDescription, root_bone: str, offset: np.ndarray) -> np.ndarray:
    """Canonical offset `(3,)` metres -> the same shift of `root_bone`'s location `(3,)`, in that
    bone's rest axes and rig units (the linear part of retarget's `_root_location`)."""
    armature = np.asarray(offset, dtype=np.float64) / rig.metres_per_unit @ rig.canonical_to_armature.T
    return armature @ rig.rest_rotations[rig.index(root_bone)]


def heads_to_canonical(binding: Any, heads: np.ndarray) -> np.ndarray:
    """Posed bone heads `(T, N, 3)` armature units -> canonical joints `(T, 22, 3)` float64 metres
    in the rig's frame, exactly as `rig_pose_to_canonical` maps its own forward kinematics' heads.

    binding: engine.rig.retarget.RigBinding. For heads Blender evaluated itself (pose_bone.head),
    which include constraints and bone scale that the engine's forward kinematics leaves out.
    """
    joints = np.einsum("js,tsc->tjc", binding.weights, np.asarray(heads, dtype=np.float64))
    rig = binding.rig
    return (joints @ rig.canonical_to_armature) * rig.metres_per_unit - binding.origin
