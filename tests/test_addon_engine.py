"""The add-on against the REAL engine: `motion-engine serve` on a free loopback port, driven by the
add-on's operators and client inside bpy (ping, describe pose/change, retarget onto a Mixamo rig,
and the engine's own sentence when a model is missing)."""

from __future__ import annotations

import subprocess
import sys
import time

import numpy as np
import pytest
from blender_fixtures import (
    NAME_TABLE,
    ROOT,
    bpy,
    empty_scene,
    installed_addon,
    limb_bones,
    make_armature,
    smooth_motion,
)

pytestmark = pytest.mark.blender
START_TIMEOUT = 60.0  # the engine imports torch; CI shares 2 cores


@pytest.fixture(scope="module")
def engine():
    from test_addon_operators import free_address

    from blender_addon import client as mc_client

    address = free_address()
    process = subprocess.Popen(
        [sys.executable, "-m", "engine.cli", "serve", "--no-bundle", "--device", "cpu", "--bind", address],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    client = mc_client.EngineClient(address, timeout=2.0)
    deadline = time.monotonic() + START_TIMEOUT
    try:
        while True:
            job = client.submit("ping")
            mc_client.wait(client, [job])
            if job.state == mc_client.OK:
                break
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(
                    f"motion-engine serve did not answer: {process.stderr.read() if process.poll() is not None else 'timeout'}"
                )
        yield address, client
    finally:
        client.close()
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()


@pytest.fixture
def smpl_scene(engine):
    name, _ = installed_addon()
    scene = empty_scene(24)
    prefs = bpy.context.preferences.addons[name].preferences
    prefs.engine_address, prefs.timeout_seconds = engine[0], 20.0
    bpy.ops.motion_copilot.create_smpl_armature()
    return scene, bpy.context.active_object


def test_ping_and_pose_descriptions_through_operators(smpl_scene):
    scene, obj = smpl_scene
    assert bpy.ops.motion_copilot.ping(wait=True) == {"FINISHED"}
    state = bpy.context.window_manager.motion_copilot_job
    assert state.connection == "connected"

    assert bpy.ops.motion_copilot.describe_pose(wait=True) == {"FINISHED"}
    t_pose_text = state.last_text
    assert len(t_pose_text.split()) >= 3
    # Raise the left arm (bone-local axes are SMPL's: about Z lifts the +X arm) and key it.
    from mathutils import Quaternion

    obj.pose.bones["left_shoulder"].rotation_quaternion = Quaternion((0, 0, 1), 1.2)
    obj.pose.bones["left_shoulder"].keyframe_insert("rotation_quaternion", frame=1)
    obj.pose.bones["left_shoulder"].rotation_quaternion = Quaternion((0, 0, 1), -0.3)
    obj.pose.bones["left_shoulder"].keyframe_insert("rotation_quaternion", frame=10)
    scene.frame_set(10)
    assert bpy.ops.motion_copilot.describe_pose(wait=True) == {"FINISHED"}
    assert state.last_text != t_pose_text  # the engine saw the pose the add-on read
    scene.motion_copilot.compare_frame = 1
    assert bpy.ops.motion_copilot.describe_change(wait=True) == {"FINISHED"}
    assert "arm" in state.last_text.lower() or "hand" in state.last_text.lower(), state.last_text
    assert scene.frame_current == 10


def test_missing_model_reports_the_engines_sentence_and_changes_nothing(smpl_scene):
    scene, obj = smpl_scene
    n_actions = len(bpy.data.actions)
    start = time.monotonic()
    for op in ("generate", "correct_pose"):
        with pytest.raises(RuntimeError, match="failed: .*bundle") as info:
            getattr(bpy.ops.motion_copilot, op)(wait=True)
        assert "No answer" not in str(info.value)
    assert time.monotonic() - start < 10.0  # answered, not timed out (timeout is 20 s)
    assert len(bpy.data.actions) == n_actions and obj.animation_data is None


def _canonical(client, obj, scene, start, end, **args):
    """The rig's motion between two frames as the engine reads it (rig_to_canonical), (T, 22, 3)."""
    from blender_addon import client as mc_client
    from blender_addon import rig_io

    rig_args, rig_arrays = rig_io.rig_wire(obj, scene)
    job = client.submit(
        "rig_to_canonical",
        {"rig": rig_args, **args},
        {"pose_heads": rig_io.sample_pose_heads(obj, scene, start, end), **rig_arrays},
    )
    mc_client.wait(client, [job])
    assert job.state == mc_client.OK, job.error_message
    return job.arrays["positions"], job.result


def test_retarget_onto_a_mixamo_rig_through_the_addon_client(smpl_scene, engine):
    """Motion read from an animated SMPL rig by the engine, retargeted by the engine onto a
    centimetre Mixamo rig, keyed by rig_io: the Mixamo rig's joints then follow the same path."""
    from blender_addon import client as mc_client
    from blender_addon import rig_io

    scene, smpl = smpl_scene
    client = engine[1]
    quats, root = smooth_motion(20, 22, seed=4)
    quats[:, [0, 3, 6, 9, 12, 13, 14, 15]] = (1, 0, 0, 0)  # keep the torso upright: a clean test motion
    rig_io.write_motion(
        smpl, scene, "source", [b.name for b in smpl.pose.bones], quats, 0.0 * root, "pelvis", start_frame=1
    )
    positions, result = _canonical(client, smpl, scene, 1, 1 + 19 * 24 / 20)
    assert positions.shape == (20, 22, 3) and result["root_bone"] == "pelvis"
    assert np.ptp(positions[:, 20], axis=0).max() > 0.05  # the left wrist really moves

    mixamo = make_armature("Mixamo", limb_bones([row[1] for row in NAME_TABLE], scale=100.0))
    mixamo.scale = (0.01, 0.01, 0.01)
    bpy.context.view_layer.update()
    rig_args, rig_arrays = rig_io.rig_wire(mixamo, scene)
    assert rig_args["metres_per_unit"] == pytest.approx(0.01)
    job = client.submit(
        "retarget",
        {"rig": rig_args, "preset": "mixamo"},
        {"positions": positions, "rest_matrices": rig_arrays["rest_matrices"]},
    )
    mc_client.wait(client, [job])
    assert job.state == mc_client.OK, job.error_message
    rotations, root_track = job.arrays["rotations"], job.arrays["root_location"]
    assert rotations.shape == (20, 22, 4)
    rig_io.write_motion(
        mixamo, scene, "retargeted", rig_args["names"], rotations, root_track, job.result["root_bone"], start_frame=1
    )
    got, _ = _canonical(client, mixamo, scene, 1, 1 + 19 * 24 / 20, preset="mixamo")
    # Same proportions, so the same joint paths up to the floor the engine puts the rig on.
    got = got - (got[:, :1].mean(axis=0) - positions[:, :1].mean(axis=0))
    err = np.linalg.norm(got - positions, axis=-1)
    print(f"retarget round trip: max joint error {err.max() * 1000:.1f} mm")
    assert err.max() < 0.03, f"max joint error {err.max():.3f} m"


def test_describe_pose_and_change_on_a_rigify_rig(engine):
    """A Rigify-named armature (DEF bones aimed along the limbs, rolled) is read by the engine's
    joint map: the add-on's Describe Pose/Change work on it, and see the pose the animator set."""
    name, _ = installed_addon()
    scene = empty_scene(24)
    prefs = bpy.context.preferences.addons[name].preferences
    prefs.engine_address, prefs.timeout_seconds = engine[0], 20.0
    rigify = make_armature("Rigify", limb_bones([row[2] for row in NAME_TABLE], roll=0.3))
    scene.motion_copilot.target, scene.motion_copilot.mapping_preset = rigify, "RIGIFY"
    state = bpy.context.window_manager.motion_copilot_job
    assert bpy.ops.motion_copilot.describe_pose(wait=True) == {"FINISHED"}, state.last_error
    rest_text = state.last_text
    assert len(rest_text.split()) >= 3

    positions, _ = _canonical(engine[1], rigify, scene, 1, 1, preset="rigify")
    from blender_addon.rig_io import SMPL_REST_YUP

    np.testing.assert_allclose(positions[0] - positions[0, :1], SMPL_REST_YUP - SMPL_REST_YUP[:1], atol=1e-3)

    # Bend both knees far back (the thighs stay): the description changes, and so does the change.
    from mathutils import Quaternion

    for side in "LR":
        shin = rigify.pose.bones[f"DEF-shin.{side}"]
        shin.rotation_quaternion = Quaternion((1, 0, 0), 1.6)
        shin.keyframe_insert("rotation_quaternion", frame=10)
        shin.rotation_quaternion = Quaternion()
        shin.keyframe_insert("rotation_quaternion", frame=1)
    scene.frame_set(10)
    assert bpy.ops.motion_copilot.describe_pose(wait=True) == {"FINISHED"}, state.last_error
    assert state.last_text != rest_text and "knee" in state.last_text.lower(), state.last_text
    scene.motion_copilot.compare_frame = 1
    assert bpy.ops.motion_copilot.describe_change(wait=True) == {"FINISHED"}, state.last_error
    assert "knee" in state.last_text.lower() or "leg" in state.last_text.lower(), state.last_text
    assert scene.frame_current == 10
