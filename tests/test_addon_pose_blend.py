"""Correct Pose on a densely keyed action (real bpy): the edit fades in and out over the nearby keys
instead of flashing for one frame."""

from __future__ import annotations

import math

import numpy as np
import pytest

pytestmark = pytest.mark.blender

KEY_STEP = 1.2  # a generated take: 20 fps keys in a 24 fps scene
EDIT_FRAME = 12


def _quat_angle_deg(a: np.ndarray, b: np.ndarray) -> float:
    return math.degrees(2.0 * math.acos(min(1.0, abs(float(np.dot(a, b))))))


def _dense_take():
    from blender_fixtures import bpy, empty_scene, make_armature

    empty_scene(24)
    obj = make_armature("Rig", [("root", None, (0, 0, 0), (0, 0, 1), 0.0), ("arm", "root", (0, 0, 1), (0, 0, 2), 0.0)])
    from blender_addon import rig_io

    angles = np.radians(5.0 * np.arange(25))  # the arm turning slowly about X, 5 degrees per key
    quats = np.zeros((25, 2, 4))
    quats[:, 0, 0] = 1.0
    quats[:, 1] = np.stack([np.cos(angles / 2), np.sin(angles / 2), 0 * angles, 0 * angles], -1)
    # The add-on's own writer, as for a generated take: 20 fps keys at 24 fps, every 1.2 frames, linear.
    rig_io.write_motion(obj, bpy.context.scene, "take", ["root", "arm"], quats, start_frame=0.0)
    bpy.ops.object.mode_set(mode="POSE")
    return bpy, obj


def _sampled(bpy, obj, frames: np.ndarray) -> np.ndarray:
    """The arm's keyed rotation at `frames`, from its F-curves (what the action holds), unit wxyz."""
    from blender_addon import pose_blend

    fcurves = pose_blend.current_fcurves(obj)
    curves = [fcurves.find('pose.bones["arm"].rotation_quaternion', index=i) for i in range(4)]
    out = np.array([[fc.evaluate(float(f)) for fc in curves] for f in frames])
    return out / np.linalg.norm(out, axis=1, keepdims=True)


def _edit(obj, bpy, blend_frames: float) -> tuple[np.ndarray, np.ndarray]:
    from mathutils import Quaternion

    from blender_addon import pose_blend

    bpy.context.scene.frame_set(EDIT_FRAME)
    old = np.array(obj.pose.bones["arm"].rotation_quaternion)
    lift = np.array([math.cos(math.radians(30)), math.sin(math.radians(30)), 0.0, 0.0])  # 60 degrees more
    new = np.array(Quaternion(lift) @ Quaternion(old))
    pose_blend.key_pose_edit(obj, EDIT_FRAME, ["arm"], old[None], new[None], blend_frames=blend_frames)
    return old, new


def test_the_edit_fades_over_the_neighbouring_keys_without_a_pop():
    bpy, obj = _dense_take()
    frames = np.arange(0.0, 28.0, 0.2)
    before = _sampled(bpy, obj, frames)
    _, new = _edit(obj, bpy, blend_frames=6.0)
    after = _sampled(bpy, obj, frames)

    at_edit = _sampled(bpy, obj, np.array([float(EDIT_FRAME)]))[0]
    assert _quat_angle_deg(at_edit, new) < 1.0  # the corrected pose at the frame
    far = np.abs(frames - EDIT_FRAME) >= 6.0 + KEY_STEP
    assert max(_quat_angle_deg(a, b) for a, b in zip(before[far], after[far])) < 0.1  # the take elsewhere
    near = np.abs(frames - EDIT_FRAME) <= 1.0
    assert min(_quat_angle_deg(a, b) for a, b in zip(before[near], after[near])) > 40.0  # not a one-frame spike
    steps = [_quat_angle_deg(a, b) for a, b in zip(after[:-1], after[1:])]
    assert max(steps) < 5.0, f"largest change between samples 0.2 frames apart: {max(steps):.1f} degrees"


def test_one_key_alone_would_pop():
    """The control: the same edit keyed alone (blend 0) jumps 60 degrees within about one frame."""
    bpy, obj = _dense_take()
    frames = np.arange(0.0, 28.0, 0.2)
    _edit(obj, bpy, blend_frames=0.0)
    after = _sampled(bpy, obj, frames)
    steps = [_quat_angle_deg(a, b) for a, b in zip(after[:-1], after[1:])]
    assert max(steps) > 8.0
