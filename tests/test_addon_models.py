"""The add-on's model operators against the REAL engine and its REAL model ops: `motion-engine serve
--bundle <tiny untrained bundle>` on a free loopback port, driven by the add-on's operators and their
tick loop inside bpy. Untrained models: what is checked is where the keys land (frame ranges, key
counts, names), that the animator's keys stay as they were, and that results stay where the rig
stands (far from the origin, turned); never the quality of the motion.
"""

from __future__ import annotations

import numpy as np
import pytest
from blender_fixtures import NAME_TABLE, bpy, empty_scene, fcurves_of, installed_addon, limb_bones, make_armature
from engine_process import EngineProcess
from tiny_bundle import write_tiny_bundle

pytestmark = pytest.mark.blender
FAR = np.array([6.0, 0.0, 5.0])  # the animator's pelvis, metres on the floor (SMPL rig: bone axes = Y up)
NEAR = 3.0  # metres: an untrained decoder wanders at most this far in a few frames; FAR is ~7.8 m away


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    bundle = write_tiny_bundle(tmp_path_factory.mktemp("bundle"))
    with EngineProcess("--bundle", str(bundle), "--threads", "1") as process:
        yield process


def _scene(engine, fps: int):
    name, _ = installed_addon()
    scene = empty_scene(fps)
    prefs = bpy.context.preferences.addons[name].preferences
    prefs.engine_address, prefs.timeout_seconds = engine.endpoint, 30.0
    return scene


@pytest.fixture
def smpl(engine):
    scene = _scene(engine, 24)
    bpy.ops.motion_copilot.create_smpl_armature()
    return scene, bpy.context.active_object


def _keys(action_or_obj) -> dict[tuple[str, int], np.ndarray]:
    """{(data path, index): (K, 2) frame/value} of an object's assigned action, or of an action."""
    if isinstance(action_or_obj, bpy.types.Action):
        curves = [
            fc
            for layer in action_or_obj.layers
            for strip in layer.strips
            for bag in strip.channelbags
            for fc in bag.fcurves
        ]
    else:
        curves = fcurves_of(action_or_obj)
    return {(fc.data_path, fc.array_index): np.array([tuple(k.co) for k in fc.keyframe_points]) for fc in curves}


def _frames(obj) -> np.ndarray:
    """Sorted key frames of the assigned action (all channels share them)."""
    return np.unique(np.concatenate([k[:, 0] for k in _keys(obj).values()]))


def _pelvis(obj, scene, frame: float, bone: str = "pelvis") -> np.ndarray:
    scene.frame_set(int(frame), subframe=frame - int(frame))
    return np.array(obj.matrix_world @ obj.pose.bones[bone].head)


def _key_animators_poses(obj, frames: tuple[int, ...]) -> bpy.types.Action:
    """The animator's own keys: the pelvis FAR from the origin and turned 90 degrees, the left arm
    moving; keyed with keyframe_insert like a person would. Returns that action."""
    from mathutils import Quaternion

    pelvis, arm = obj.pose.bones["pelvis"], obj.pose.bones["left_shoulder"]
    for i, frame in enumerate(frames):
        pelvis.location = FAR + (0.0, 0.0, 0.3 * i)
        pelvis.rotation_quaternion = Quaternion((0, 1, 0), 1.57)
        arm.rotation_quaternion = Quaternion((0, 0, 1), 1.2 * (-1) ** i)
        for pb in (pelvis, arm):
            pb.keyframe_insert("rotation_quaternion", frame=frame)
        pelvis.keyframe_insert("location", frame=frame)
    obj.animation_data.action.name = "animator_take"
    return obj.animation_data.action


def test_generate_keys_a_new_action_of_the_asked_length(smpl):
    scene, obj = smpl
    mine = _key_animators_poses(obj, (1, 10))
    settings = scene.motion_copilot
    settings.prompt, settings.length_seconds, settings.seed, settings.variations = "walk forward", 2.0, 3, 1
    scene.frame_set(7)
    assert bpy.ops.motion_copilot.generate(wait=True) == {"FINISHED"}
    action = obj.animation_data.action
    assert action.name == "MC_walk_forward" and action["prompt"] == "walk forward"
    assert action["previous_action"] == mine.name and mine.use_fake_user and mine.name in bpy.data.actions
    # 2 s = 40 engine frames, keyed every 24/20 scene frames from the current frame.
    np.testing.assert_allclose(_frames(obj), 7 + np.arange(40) * 1.2, atol=1e-4)
    assert tuple(action.frame_range) == pytest.approx((7, 7 + 39 * 1.2))
    assert all(len(k) == 40 for k in _keys(obj).values()) and len(_keys(obj)) == 22 * 4 + 3


def test_continue_keys_after_the_last_key_and_leaves_the_old_keys(smpl):
    scene, obj = smpl
    mine = _key_animators_poses(obj, (1, 13, 25))
    before = _keys(mine)
    last = _pelvis(obj, scene, 25)
    settings = scene.motion_copilot
    settings.continue_seconds, settings.seed = 1.0, 5
    assert bpy.ops.motion_copilot.continue_motion(wait=True) == {"FINISHED"}
    cont = obj.animation_data.action
    assert cont.name.startswith("MC_continue") and cont["previous_action"] == mine.name
    assert cont["seed"] == 5 or not settings.lock_seed
    # The new action is the take plus what follows: the animator's keys, then 1 s = 20 new engine
    # frames, the first one engine frame (1.2 scene frames) after the last key.
    np.testing.assert_allclose(_frames(obj), np.r_[1, 13, 25, 25 + 1.2 * np.arange(1, 21)], atol=1e-4)
    assert tuple(cont.frame_range) == pytest.approx((1, 49))
    combined = _keys(obj)
    for channel, keys in before.items():  # the take's keys are in the new action as they were
        np.testing.assert_array_equal(combined[channel][combined[channel][:, 0] <= 25], keys)
    after = _keys(mine)
    assert after.keys() == before.keys()
    for channel, keys in before.items():  # and the take itself is untouched
        np.testing.assert_array_equal(after[channel], keys)
    # The continuation starts where the animator left the character (7.8 m from the origin).
    first = _pelvis(obj, scene, 26.2)
    print(f"continue: first new pelvis {np.linalg.norm(first - last):.2f} m from the last key's")
    assert np.linalg.norm((first - last)[:2]) < NEAR


def test_inbetween_fills_strictly_between_the_two_keyed_poses(smpl):
    scene, obj = smpl
    mine = _key_animators_poses(obj, (5, 41))
    before = _keys(mine)
    ends = _pelvis(obj, scene, 5), _pelvis(obj, scene, 41)
    settings = scene.motion_copilot
    settings.inbetween_start, settings.inbetween_end, settings.seed = 5, 41, 2
    assert bpy.ops.motion_copilot.inbetween(wait=True) == {"FINISHED"}
    action = obj.animation_data.action
    assert action.name == "MC_inbetween" and action["previous_action"] == mine.name
    # 36 frames at 24 fps = 30 engine steps: the 29 frames strictly between, 1.2 frames apart, in a
    # copy of the take that keeps its two keyed poses.
    np.testing.assert_allclose(_frames(obj), np.r_[5, 5 + 1.2 * np.arange(1, 30), 41], atol=1e-4)
    combined = _keys(obj)
    for channel, keys in before.items():
        np.testing.assert_array_equal(combined[channel][np.isin(combined[channel][:, 0], (5, 41))], keys)
    after = _keys(mine)
    for channel, keys in before.items():
        np.testing.assert_array_equal(after[channel], keys)
    assert {tuple(k[:, 0]) for k in after.values()} == {(5.0, 41.0)}
    # The engine blends its ends onto the two poses: the first and last in-betweens sit beside them.
    near = [np.linalg.norm(_pelvis(obj, scene, f) - end) for f, end in zip((6.2, 39.8), ends)]
    print(f"inbetween: pelvis {near[0]:.2f} m / {near[1]:.2f} m from the keyed poses beside it")
    assert max(near) < NEAR


def test_inbetween_of_an_uneven_gap_ends_one_step_before_the_end_key(smpl):
    scene, obj = smpl
    _key_animators_poses(obj, (1, 12))
    settings = scene.motion_copilot
    settings.inbetween_start, settings.inbetween_end = 1, 12  # 11 frames at 24 fps: 9.17 engine steps
    assert bpy.ops.motion_copilot.inbetween(wait=True) == {"FINISHED"}
    np.testing.assert_allclose(_frames(obj), np.r_[1, 1 + 11 / 9 * np.arange(1, 9), 12], atol=1e-4)
    settings.inbetween_start, settings.inbetween_end = 1, 2  # less than two engine frames apart
    with pytest.raises(RuntimeError, match="nothing to fill"):
        bpy.ops.motion_copilot.inbetween(wait=True)


def test_describe_animation_reports_text(smpl):
    scene, obj = smpl
    _key_animators_poses(obj, (1, 20))
    state = bpy.context.window_manager.motion_copilot_job
    state.last_text = ""
    assert bpy.ops.motion_copilot.describe_motion(wait=True) == {"FINISHED"}
    assert isinstance(state.last_text, str) and state.last_text.strip()


@pytest.fixture
def mixamo(engine):
    """A centimetre Mixamo-named rig with an index finger (no SMPL joint) in a 30 fps scene."""
    scene = _scene(engine, 30)
    rows = limb_bones([row[1] for row in NAME_TABLE], scale=100.0)
    hand = next(r for r in rows if r[0] == "mixamorig:LeftHand")
    rows.append(("mixamorig:LeftHandIndex1", hand[0], hand[3], tuple(np.array(hand[3]) + (8.0, 0.0, 0.0)), 0.0))
    obj = make_armature("Mixamo", rows)
    obj.scale = (0.01, 0.01, 0.01)
    scene.motion_copilot.mapping_preset = "MIXAMO"
    return scene, obj


def test_generate_continue_and_correct_pose_on_a_mixamo_rig_at_30_fps(mixamo):
    scene, obj = mixamo
    settings = scene.motion_copilot
    settings.prompt, settings.length_seconds, settings.continue_seconds = "a man runs", 1.5, 0.5
    scene.frame_set(1)
    assert bpy.ops.motion_copilot.generate(wait=True) == {"FINISHED"}
    run = obj.animation_data.action
    np.testing.assert_allclose(_frames(obj), 1 + 1.5 * np.arange(30), atol=1e-4)  # 1.5 s, 30 fps

    assert bpy.ops.motion_copilot.continue_motion(wait=True) == {"FINISHED"}
    np.testing.assert_allclose(_frames(obj), 1 + 1.5 * np.arange(40), atol=1e-4)  # the run, continued
    assert obj.animation_data.action["previous_action"] == run.name

    obj.animation_data.action = run
    n_actions, untouched = len(bpy.data.actions), _keys(obj)
    scene.frame_set(12)
    settings.pose_prompt = "Raise your left arm."
    assert bpy.ops.motion_copilot.correct_pose(wait=True) == {"FINISHED"}
    assert len(bpy.data.actions) == n_actions and obj.animation_data.action == run  # edited in place
    keys = _keys(obj)
    rotated = {
        path.split('"')[1] for (path, _), k in keys.items() if path.endswith("rotation_quaternion") and 12.0 in k[:, 0]
    }
    assert rotated == {row[1] for row in NAME_TABLE}  # every body bone, and only those
    blend = settings.pose_blend_frames  # the edit fades into the keys this close to frame 12
    faded = 0
    for channel, old in untouched.items():  # keys farther away are as they were
        far_new, far_old = (k[np.abs(k[:, 0] - 12.0) >= blend] for k in (keys[channel], old))
        assert np.array_equal(far_new, far_old), channel
        near_new, near_old = (k[(np.abs(k[:, 0] - 12.0) < blend) & (k[:, 0] != 12.0)] for k in (keys[channel], old))
        faded += int(not np.allclose(near_new, near_old))
    assert faded > 0  # the neighbouring keys follow the edit: no one-frame pop
