"""rig_io on real bpy: reading rigs and poses, writing keyframes as new actions, the SMPL armature."""

from __future__ import annotations

import numpy as np
import pytest
from blender_fixtures import (
    NAME_TABLE,
    bpy,
    empty_scene,
    fcurves_of,
    limb_bones,
    make_armature,
    random_quats,
    smooth_motion,
)

from blender_addon import rig_io

pytestmark = pytest.mark.blender


def mixamo_rig():
    return make_armature("Mixamo", limb_bones([row[1] for row in NAME_TABLE], scale=100.0))


def rigify_rig():
    return make_armature("Rigify", limb_bones([row[2] for row in NAME_TABLE], roll=0.3))


def smpl_rig():
    return rig_io.create_smpl_armature(bpy.context)


RIGS = {"smpl": smpl_rig, "mixamo": mixamo_rig, "rigify": rigify_rig}


def test_constants_match_engine_skeleton():
    skeleton = pytest.importorskip("engine.motion.skeleton")
    assert rig_io.SMPL_JOINT_NAMES == skeleton.JOINT_NAMES
    assert rig_io.SMPL_PARENTS == skeleton.PARENTS
    np.testing.assert_allclose(rig_io.SMPL_REST_YUP, skeleton.default_rest_positions(), atol=6e-4)


@pytest.mark.parametrize("kind", list(RIGS))
def test_read_rig_names_parents_matrices(kind):
    empty_scene()
    obj = RIGS[kind]()
    obj.location = (1.0, 2.0, 0.5)
    bpy.context.view_layer.update()
    rig = rig_io.read_rig(obj)
    column = {"smpl": 0, "mixamo": 1, "rigify": 2}[kind]
    # Blender orders bones depth-first, not by creation: compare through the names.
    table = [row[column] for row in NAME_TABLE]
    assert sorted(rig.names) == sorted(table)
    for j, name in enumerate(rig.names):
        smpl_parent = rig_io.SMPL_PARENTS[table.index(name)]
        expected = table[smpl_parent] if smpl_parent >= 0 else None
        assert (rig.names[rig.parents[j]] if rig.parents[j] >= 0 else None) == expected
    assert rig.rest_matrices.shape == (22, 4, 4) and rig.rest_matrices.dtype == np.float64
    for j, bone in enumerate(obj.data.bones):
        # Independent of foreach_get's memory layout: compare with the bone's own head and axis.
        np.testing.assert_allclose(rig.rest_matrices[j, :3, 3], np.array(bone.head_local), atol=1e-5)
        y_axis = np.array(bone.tail_local) - np.array(bone.head_local)
        np.testing.assert_allclose(rig.rest_matrices[j, :3, 1], y_axis / np.linalg.norm(y_axis), atol=1e-5)
        np.testing.assert_allclose(rig.rest_matrices[j, 3], [0, 0, 0, 1], atol=1e-6)
    np.testing.assert_allclose(rig.world_matrix[:3, 3], [1.0, 2.0, 0.5])


def test_smpl_armature_is_z_up_connected_and_selected():
    """The armature reads as a body: each bone runs to the next joint of its chain and is connected
    there (it was 22 disconnected 10 cm stubs pointing up), and it is the active, only selected object."""
    empty_scene()
    other = make_armature("Other", [("b", None, (0, 0, 0), (0, 0, 1), 0.0)])
    other.select_set(True)
    obj = smpl_rig()
    rig = rig_io.read_rig(obj)
    heads = dict(zip(rig.names, rig.rest_matrices[:, :3, 3]))
    assert heads["head"][2] > 1.4 and heads["left_ankle"][2] < 0.1  # standing up along Blender Z
    assert heads["left_shoulder"][0] > 0 > heads["right_shoulder"][0]  # left on +X like SMPL
    assert heads["left_foot"][1] < heads["left_ankle"][1]  # toes forward = Blender -Y
    bones = obj.data.bones
    for parent, child in (("pelvis", "spine1"), ("left_hip", "left_knee"), ("left_elbow", "left_wrist")):
        assert (bones[parent].tail_local - bones[child].head_local).length < 1e-6
        assert bones[child].use_connect
    assert not bones["left_hip"].use_connect  # the hips hang off the pelvis, apart from its tail
    assert sum(b.use_connect for b in bones) == 17  # every joint that continues its parent's chain
    assert bones["left_hip"].length > 0.3 and bones["head"].tail_local.z > bones["head"].head_local.z + 0.1
    assert obj.data.display_type == "OCTAHEDRAL" and obj.show_in_front
    assert bpy.context.view_layer.objects.active == obj
    assert obj.select_get() and not other.select_get()


def test_action_names_keep_whole_words():
    long = "a person walks forward slowly then turns around and waves with both hands"
    name = rig_io.action_stem(long)
    assert name == "MC_a_person_walks_forward_slowly_then_turns_around" and not name.endswith("_")
    assert len(name) <= 3 + rig_io.ACTION_STEM_CHARS
    assert rig_io.action_stem("  !!  ") == "MC_motion"
    assert rig_io.action_stem("x" * 80) == "MC_" + "x" * 48
    assert rig_io.action_stem("Jump, then   SPIN!") == "MC_jump_then_spin"


def test_read_pose_converts_euler_and_reads_root():
    empty_scene()
    obj = mixamo_rig()
    hips, knee = obj.pose.bones["mixamorig:Hips"], obj.pose.bones["mixamorig:LeftLeg"]
    knee.rotation_mode = "XYZ"
    knee.rotation_euler = (0.7, 0.0, 0.0)
    hips.rotation_quaternion = (0.0, 0.0, 0.0, 1.0)
    hips.location = (1.0, 2.0, 3.0)
    quats, root = rig_io.read_pose(obj)
    assert quats.shape == (22, 4)
    np.testing.assert_allclose(
        quats[[b.name for b in obj.pose.bones].index(knee.name)], [np.cos(0.35), np.sin(0.35), 0, 0], atol=1e-6
    )
    np.testing.assert_allclose(quats[[b.name for b in obj.pose.bones].index(hips.name)], [0, 0, 0, 1], atol=1e-6)
    np.testing.assert_allclose(root, [1, 2, 3])


@pytest.mark.parametrize("fps", [24, 30])
@pytest.mark.parametrize("kind", ["smpl", "mixamo", "rigify"])
def test_write_motion_196_frames(kind, fps):
    scene = empty_scene(fps)
    scene.frame_set(10)
    obj = RIGS[kind]()
    names = [b.name for b in obj.pose.bones]
    root = names[0]
    # The animator's own action, keyed the ordinary way, must survive untouched.
    obj.pose.bones[root].location = (0.0, 0.0, 0.3)
    obj.pose.bones[root].keyframe_insert("location", frame=1)
    theirs = obj.animation_data.action
    theirs_name, theirs_keys = theirs.name, len(fcurves_of(obj)[0].keyframe_points)

    quats, root_track = smooth_motion(196, 22)
    quats[50:] *= -1  # the engine's retarget removes sign flips; the writer keys what it is given
    action = rig_io.write_motion(
        obj,
        scene,
        rig_io.unique_action_name("A person walks forward!"),
        names,
        quats,
        root_track,
        root,
        metadata={"prompt": "walk"},
    )

    assert action.name == "MC_a_person_walks_forward"
    assert obj.animation_data.action == action and action["prompt"] == "walk"
    assert action["previous_action"] == theirs_name and theirs.use_fake_user
    assert bpy.data.actions[theirs_name] == theirs
    curves = fcurves_of(obj)
    assert len(curves) == 22 * 4 + 3
    assert all(len(fc.keyframe_points) == 196 for fc in curves)
    expected_end = 10 + 195 * fps / 20
    assert action.frame_range[0] == pytest.approx(10) and action.frame_range[1] == pytest.approx(expected_end)
    first, last = curves[0].keyframe_points[0].co, curves[0].keyframe_points[-1].co
    assert first[0] == pytest.approx(10) and last[0] == pytest.approx(expected_end, abs=1e-4)
    assert all(pb.rotation_mode == "QUATERNION" for pb in obj.pose.bones)
    # Keyed exactly as given (float32 F-curve values), the flipped half included: continuity is the
    # engine's job (engine/rig/retarget.py bone_keys, engine/rig/placement.py follow_key).
    values = np.array([[kp.co[1] for kp in fc.keyframe_points] for fc in curves[:4]]).T  # (196, 4)
    np.testing.assert_allclose(values, quats[:, 0], atol=1e-6)

    # Evaluated pose at a frame that falls on a sample equals the written rotation (up to sign).
    i = 40 if fps == 30 else 45  # 40 * 1.5 = 60, 45 * 1.2 = 54: integer frames
    scene.frame_set(int(round(10 + i * fps / 20)))
    got, got_root = rig_io.read_pose(obj)
    dots = np.abs(np.einsum("nc,nc->n", got, quats[i]))
    np.testing.assert_allclose(dots, 1.0, atol=1e-5)
    np.testing.assert_allclose(got_root, root_track[i], atol=1e-5)

    # Assigning the animator's action back restores their animation exactly.
    obj.animation_data.action = theirs
    if bpy.app.version >= (4, 4, 0):
        obj.animation_data.action_slot = theirs.slots[0]
    assert len(fcurves_of(obj)[0].keyframe_points) == theirs_keys


def test_action_names_are_deduplicated_and_nla_push_keeps_assignment():
    scene = empty_scene(24)
    obj = smpl_rig()
    names = [b.name for b in obj.pose.bones]
    quats, root = smooth_motion(40, 22, seed=1)
    first = rig_io.write_motion(obj, scene, rig_io.unique_action_name("wave"), names, quats, root, "pelvis")
    second = rig_io.write_motion(
        obj, scene, rig_io.unique_action_name("wave"), names, quats, root, "pelvis", push_to_nla=True, start_frame=100
    )
    assert (first.name, second.name) == ("MC_wave", "MC_wave_001")
    assert obj.animation_data.action == first  # NLA push leaves the assignment alone
    strips = [s for t in obj.animation_data.nla_tracks for s in t.strips]
    assert [s.action for s in strips] == [second] and strips[0].frame_start == pytest.approx(100)


def test_write_motion_rejects_bad_shapes_without_touching_the_scene():
    scene = empty_scene()
    obj = smpl_rig()
    n_actions = len(bpy.data.actions)
    with pytest.raises(ValueError, match=r"\(T, 22, 4\)"):
        rig_io.write_motion(obj, scene, "x", [b.name for b in obj.pose.bones], np.zeros((10, 21, 4)))
    with pytest.raises(ValueError, match="not in armature"):
        rig_io.write_motion(obj, scene, "x", ["nope"], np.zeros((10, 1, 4)))
    assert len(bpy.data.actions) == n_actions and obj.animation_data is None


def test_write_pose_key_keys_current_frame():
    scene = empty_scene()
    obj = mixamo_rig()
    scene.frame_set(7)
    names = ["mixamorig:LeftLeg", "mixamorig:Hips"]
    q = random_quats(np.random.default_rng(3), (2,))
    rig_io.write_pose_key(obj, 7, names, q, np.array([0.0, 1.0, 0.0]), "mixamorig:Hips")
    frames = {kp.co[0] for fc in fcurves_of(obj) for kp in fc.keyframe_points}
    assert frames == {7.0}
    scene.frame_set(7)
    got, root = rig_io.read_pose(obj)
    order = [b.name for b in obj.pose.bones]
    got = got[[order.index(n) for n in names]]
    np.testing.assert_allclose(np.abs(np.sum(got * q, axis=1)), 1.0, atol=1e-6)
    np.testing.assert_allclose(root, [0, 1, 0])


def test_sample_pose_heads_resamples_to_20fps_and_follows_the_keys():
    scene = empty_scene(30)
    obj = smpl_rig()
    names = [b.name for b in obj.pose.bones]
    quats, root = smooth_motion(20, 22, seed=2)
    rig_io.write_motion(obj, scene, "take", names, quats, root, "pelvis", start_frame=1)
    track = rig_io.sample_pose_heads(obj, scene, 1, 1 + 19 * 1.5)
    assert track.shape == (20, 22, 3) and track.dtype == np.float32
    assert scene.frame_current == 1
    scene.frame_set(1 + 12)  # sample 8 falls on frame 13 at 30 fps
    np.testing.assert_allclose(track[8], [tuple(pb.head) for pb in obj.pose.bones], atol=1e-6)
    # The pelvis head moves by the root track, expressed in the pelvis bone's rest axes.
    rest = np.array(obj.data.bones["pelvis"].matrix_local.to_3x3())
    np.testing.assert_allclose(track[:, 0] - track[0, 0], (root - root[0]) @ rest.T, atol=1e-5)


def test_read_pose_heads_follow_constraints_in_description_order():
    """What the add-on sends the engine: evaluated heads, so a bone driven by a constraint (as
    Rigify's DEF bones are) counts where it is, in `armature.bones` order."""
    empty_scene()
    obj = mixamo_rig()
    obj.scale = (0.01, 0.01, 0.01)
    bpy.context.view_layer.update()
    heads = rig_io.read_pose_heads(obj)
    rest = rig_io.read_rig(obj).rest_matrices[:, :3, 3]
    np.testing.assert_allclose(heads, rest, atol=1e-3)  # at rest: the rest heads, armature units
    arm, forearm = obj.pose.bones["mixamorig:LeftArm"], obj.pose.bones["mixamorig:LeftForeArm"]
    follow = forearm.constraints.new("COPY_ROTATION")  # the forearm follows the hips' rotation
    follow.target, follow.subtarget = obj, "mixamorig:Hips"
    from mathutils import Quaternion

    arm.rotation_quaternion = Quaternion((1, 0, 0), 0.8)
    obj.pose.bones["mixamorig:Hips"].rotation_quaternion = Quaternion((0, 0, 1), 1.0)
    bpy.context.view_layer.update()
    heads = rig_io.read_pose_heads(obj)
    names = [b.name for b in obj.data.bones]
    wrist = names.index("mixamorig:LeftHand")
    np.testing.assert_allclose(heads[wrist], obj.pose.bones["mixamorig:LeftHand"].head, atol=1e-4)
    assert np.linalg.norm(heads[wrist] - rest[wrist]) > 10.0  # centimetres: it really moved


def test_rig_wire_axes_and_units():
    scene = empty_scene()
    obj = mixamo_rig()
    obj.scale = (0.01, 0.01, 0.01)
    obj.rotation_euler = (0.0, 0.0, 3.14159)  # turned to face the other way: still -Y in its own space
    bpy.context.view_layer.update()
    header, arrays = rig_io.rig_wire(obj, scene)
    assert (header["up_axis"], header["forward_axis"]) == ("Z", "-Y")
    assert header["metres_per_unit"] == pytest.approx(0.01)
    assert header["names"] == [b.name for b in obj.data.bones] and arrays["rest_matrices"].shape == (22, 4, 4)
    obj.rotation_euler = (1.5708, 0.0, 0.0)  # an FBX/glTF import: Y-up armature under a tilted object
    bpy.context.view_layer.update()
    header, _ = rig_io.rig_wire(obj, scene)
    assert (header["up_axis"], header["forward_axis"]) == ("Y", "Z")
