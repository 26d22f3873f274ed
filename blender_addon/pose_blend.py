"""Correct Pose on an animated rig: the edit keyed as a smooth offset over the nearby keys.

A generated take holds a key every 1.2 frames (20 fps keys in a 24 fps scene); one corrected key at
the current frame would leave its neighbours 0.2-1 frame away untouched, so the limb would flash to
the new pose for one frame. Instead the edit is measured as an offset from the pose it replaces
(a rotation per bone, in the bone's local space, and a shift of the root) and added to every key of
the current action within `blend_frames` of the current frame, at full strength at the frame and
fading with a raised cosine to nothing at +-blend_frames. Keys farther away, and bones the edit does
not drive, keep their values. On an unanimated rig, or where no key lies near, it is one key.
"""

from __future__ import annotations

import math

import bpy
import numpy as np
from mathutils import Quaternion  # importable wherever bpy is

from . import rig_io

BLEND_FRAMES = 6.0  # scene frames either side of the edit over which it fades out (a quarter second at 24 fps)


def fade(offset: float, blend_frames: float) -> float:
    """Share of the edit at `offset` frames from it: 1 at 0, raised cosine to 0 at +-blend_frames."""
    if blend_frames <= 0 or abs(offset) >= blend_frames:
        return 1.0 if offset == 0 else 0.0
    return 0.5 * (1.0 + math.cos(math.pi * offset / blend_frames))


def current_fcurves(obj: bpy.types.Object):
    """The F-curves of the action assigned to `obj` (its slot's channelbag on Blender 4.4+), or None."""
    adt = obj.animation_data
    if adt is None or adt.action is None:
        return None
    action = adt.action
    if bpy.app.version < (4, 4, 0):
        return action.fcurves
    slot = adt.action_slot
    if slot is None:
        return None
    for layer in action.layers:
        for strip in layer.strips:
            bag = strip.channelbag(slot)
            if bag is not None:
                return bag.fcurves
    return None


def _shift_keys(fcurves, path: str, offset_of, frame: float, blend_frames: float) -> None:
    """Add `offset_of(values, weight)` to the keys of the curves (path, 0..k) inside the window."""
    curves = []
    index = 0
    while (fc := fcurves.find(path, index=index)) is not None:
        curves.append(fc)
        index += 1
    if not curves:
        return
    times = sorted(
        {round(kp.co[0], 4) for fc in curves for kp in fc.keyframe_points if abs(kp.co[0] - frame) < blend_frames}
    )
    for t in times:
        weight = fade(t - frame, blend_frames)
        values = np.array([fc.evaluate(t) for fc in curves])
        shifted = offset_of(values, weight)
        for fc, value in zip(curves, shifted):
            fc.keyframe_points.insert(t, float(value), options={"REPLACE", "FAST"})
    for fc in curves:
        fc.update()


def key_pose_edit(
    obj: bpy.types.Object,
    frame: float,
    bone_names: list[str],
    old_quats: np.ndarray,
    new_quats: np.ndarray,
    root_old: np.ndarray | None = None,
    root_new: np.ndarray | None = None,
    root_bone: str | None = None,
    blend_frames: float = BLEND_FRAMES,
) -> None:
    """Key the corrected pose at `frame` and fade the same change into the keys within `blend_frames`.

    old_quats / new_quats: (N, 4) wxyz local rotations of `bone_names` before and after the edit;
    root_old / root_new: (3,) local location of `root_bone` before and after (optional).
    """
    fcurves = current_fcurves(obj)
    old_quats = np.asarray(old_quats, np.float64).reshape(len(bone_names), 4)
    new_quats = np.asarray(new_quats, np.float64).reshape(len(bone_names), 4)
    if fcurves is not None and blend_frames > 0:
        for bone, old, new in zip(bone_names, old_quats, new_quats):
            delta = Quaternion(new).normalized() @ Quaternion(old).normalized().inverted()
            if delta.w < 0:  # the short way round
                delta.negate()

            def rotated(values: np.ndarray, weight: float, delta=delta) -> np.ndarray:
                turned = np.array(Quaternion().slerp(delta, weight) @ Quaternion(values).normalized())
                return turned if turned @ values >= 0 else -turned  # keep the curve's sign

            _shift_keys(fcurves, rig_io._data_path(bone, "rotation_quaternion"), rotated, frame, blend_frames)
        if root_bone is not None and root_old is not None and root_new is not None:
            shift = np.asarray(root_new, np.float64) - np.asarray(root_old, np.float64)
            _shift_keys(
                fcurves,
                rig_io._data_path(root_bone, "location"),
                lambda values, weight: values + weight * shift,
                frame,
                blend_frames,
            )
    rig_io.write_pose_key(obj, int(round(frame)), bone_names, new_quats, root_new, root_bone)
