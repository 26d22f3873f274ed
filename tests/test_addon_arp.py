"""An Auto-Rig Pro rig (named as Auto-Rig Pro names its bones, built here without the add-on),
animated through the Motion Copilot add-on: Generate and Correct Pose key its FK controls, hold each
limb's `ik_fk_switch` at FK, and leave its deforming bones where the motion puts them.

The rig: `c_traj` > `c_root_master.x` > `c_root.x` (hips) and `c_spine_01.x` .. `c_head.x`; legs
`c_thigh_fk` > `c_leg_fk` > `c_foot_fk` > `c_toes_fk` under a helper `c_thigh_b` on the hips; arms
`c_shoulder` > `c_arm_fk` > `c_forearm_fk` > `c_hand_fk` on `c_spine_03.x`; IK controls `c_hand_ik`
and `c_foot_ik` carrying `ik_fk_switch` (0 = IK at first). Deforming bones without the `c_` prefix
(`root.x`, `thigh.l`, `leg.l`, ..., `hand.l`) follow their controls through Child Of constraints,
with rolls and (feet) directions other than the controls', so the control-to-deform offsets are not
the identity. The engine's real server and retarget run as in test_addon_rigify.py; where the deform
bones should be is the engine's own forward kinematics of its retarget answer.
"""

from __future__ import annotations

import numpy as np
import pytest
import test_addon_rigify
from blender_fixtures import bpy, empty_scene, fcurves_of, installed_addon, limb_bones
from test_addon_rigify import MAX_JOINT_ERROR_MM, _addon, check_correct_pose, posed_heads

pytestmark = pytest.mark.blender
server = test_addon_rigify.server  # the real engine server fixture (retargets recorded)
DEFORM = [
    "root.x", "thigh.l", "thigh.r", "spine_01.x", "leg.l", "leg.r", "spine_02.x", "foot.l", "foot.r",
    "spine_03.x", "toes_01.l", "toes_01.r", "neck.x", "shoulder.l", "shoulder.r", "head.x", "arm.l", "arm.r",
    "forearm.l", "forearm.r", "hand.l", "hand.r",
]  # fmt: skip
CONTROL_OF = {
    "root.x": "c_root.x", "spine_01.x": "c_spine_01.x", "spine_02.x": "c_spine_02.x", "spine_03.x": "c_spine_03.x",
    "neck.x": "c_neck.x", "head.x": "c_head.x",
    **{f"{d}.{s}": f"c_{c}.{s}" for s in "lr" for d, c in (
        ("thigh", "thigh_fk"), ("leg", "leg_fk"), ("foot", "foot_fk"), ("toes_01", "toes_fk"),
        ("shoulder", "shoulder"), ("arm", "arm_fk"), ("forearm", "forearm_fk"), ("hand", "hand_fk"),
    )},
}  # fmt: skip
CONTROL_PARENT = {
    "c_root.x": "c_root_master.x", "c_spine_01.x": "c_root_master.x", "c_spine_02.x": "c_spine_01.x",
    "c_spine_03.x": "c_spine_02.x", "c_neck.x": "c_spine_03.x", "c_head.x": "c_neck.x",
    **{k: v for s in "lr" for k, v in (
        (f"c_thigh_b.{s}", "c_root.x"), (f"c_thigh_fk.{s}", f"c_thigh_b.{s}"), (f"c_leg_fk.{s}", f"c_thigh_fk.{s}"),
        (f"c_foot_fk.{s}", f"c_leg_fk.{s}"), (f"c_toes_fk.{s}", f"c_foot_fk.{s}"), (f"c_shoulder.{s}", "c_spine_03.x"),
        (f"c_arm_fk.{s}", f"c_shoulder.{s}"), (f"c_forearm_fk.{s}", f"c_arm_fk.{s}"),
        (f"c_hand_fk.{s}", f"c_forearm_fk.{s}"), (f"c_hand_ik.{s}", "c_traj"), (f"c_foot_ik.{s}", "c_traj"),
    )},
}  # fmt: skip


def build_arp_rig():
    """The rig described above, active, its armature object at the origin (armature = world space)."""
    rows = {name: (head, tail, roll) for name, _, head, tail, roll in limb_bones(DEFORM, roll=0.3)}
    data = bpy.data.armatures.new("arp")
    obj = bpy.data.objects.new("arp", data)
    bpy.context.scene.collection.objects.link(obj)
    bpy.context.view_layer.objects.active = obj
    bpy.ops.object.mode_set(mode="EDIT")

    def bone(name, head, tail, roll=0.0):
        eb = data.edit_bones.new(name)
        eb.head, eb.tail, eb.roll = head, tail, roll
        return eb

    for name, (head, tail, roll) in rows.items():
        bone(name, head, tail, roll).use_deform = True
    pelvis = np.array(rows["root.x"][0])
    bone("c_traj", (0, 0, 0), (0, -0.4, 0))
    bone("c_root_master.x", pelvis, pelvis + (0, -0.25, 0))
    for deform, control in CONTROL_OF.items():
        head, tail, _ = rows[deform]
        if deform.startswith("foot."):  # Auto-Rig Pro's foot control lies flat, pointing forward
            tail = (head[0], head[1] - 0.15, head[2])
        bone(control, head, tail, -0.4)
    for s in "lr":
        hip = rows[f"thigh.{s}"][0]
        bone(f"c_thigh_b.{s}", hip, np.array(hip) + (0, 0, 0.1))
        bone(f"c_hand_ik.{s}", rows[f"hand.{s}"][0], rows[f"hand.{s}"][1])
        bone(f"c_foot_ik.{s}", rows[f"foot.{s}"][0], np.array(rows[f"foot.{s}"][0]) + (0, -0.15, 0))
    data.edit_bones["c_root_master.x"].parent = data.edit_bones["c_traj"]
    for child, parent in CONTROL_PARENT.items():
        data.edit_bones[child].parent = data.edit_bones[parent]
    bpy.ops.object.mode_set(mode="OBJECT")
    for deform, control in CONTROL_OF.items():
        con = obj.pose.bones[deform].constraints.new("CHILD_OF")
        con.target, con.subtarget = obj, control
        con.inverse_matrix = data.bones[control].matrix_local.inverted()  # follows the control's change
    for s in "lr":
        for holder in (f"c_hand_ik.{s}", f"c_foot_ik.{s}"):
            obj.pose.bones[holder]["ik_fk_switch"] = 0.0  # IK, as a fresh Auto-Rig Pro rig has it
    bpy.context.view_layer.update()
    return obj


@pytest.fixture
def arp_rig(server):
    name, _ = installed_addon()
    scene = empty_scene(24)
    prefs = bpy.context.preferences.addons[name].preferences
    prefs.engine_address, prefs.timeout_seconds = server[0], 60.0
    rig = build_arp_rig()
    scene.motion_copilot.target, scene.motion_copilot.mapping_preset = None, "AUTO"
    return scene, rig


def _deform_heads(rig) -> np.ndarray:
    return np.array([tuple(rig.pose.bones[n].head) for n in DEFORM])


def test_arp_rig_is_read_from_its_bone_names(arp_rig):
    scene, rig = arp_rig
    arp = _addon("arp")
    control = arp.rig_for(rig)
    assert control is not None and list(control.deform_bones) == DEFORM
    assert control.root_control == "c_root_master.x"
    assert {c for c, _ in control.controls} == set(CONTROL_OF.values()) | {"c_root_master.x"}
    # At rest the deforming bones sit where they were built (the constraints add no offset).
    rest = np.array([tuple(rig.data.bones[n].head_local) for n in DEFORM])
    assert np.abs(_deform_heads(rig) - rest).max() < 1e-5
    # Without the switches it is not an Auto-Rig Pro rig (and not a Rigify one).
    del rig.pose.bones["c_foot_ik.r"]["ik_fk_switch"]
    assert arp.rig_for(rig) is None and _addon("rigify").rig_for(rig) is None


def test_generate_on_arp_keys_fk_controls_and_deform_bones_follow(arp_rig, server):
    scene, rig = arp_rig
    arp = _addon("arp")
    control = arp.rig_for(rig)
    settings = scene.motion_copilot
    settings.prompt, settings.length_seconds = "walk forward", 3.0
    scene.frame_set(1)
    before = len(server[2])
    assert bpy.ops.motion_copilot.generate(wait=True) == {"FINISHED"}
    args, arrays = server[2][before]
    assert args["rig"]["names"] == DEFORM and args["mapping"]["left_knee"] == "leg.l"

    curves = fcurves_of(rig)
    keyed = {fc.data_path.split('"')[1] for fc in curves}
    assert keyed == set(control.control_names) | set(arp.SWITCH_HOLDERS)  # the controls, no deform bone
    switches = [fc for fc in curves if fc.data_path.endswith('["ik_fk_switch"]')]
    assert len(switches) == 4 and all(kp.co[1] == 1.0 for fc in switches for kp in fc.keyframe_points)
    assert {fc.data_path.split('"')[1] for fc in curves if fc.data_path.endswith("location")} == {"c_root_master.x"}

    rig_io = _addon("rig_io")
    from engine.rig.description import RigDescription

    deform = RigDescription.from_wire(*control.deform_wire(*rig_io.rig_wire(rig, scene), rig_io.SMPL_PARENTS))
    expected = posed_heads(deform, arrays["rotations"], arrays["root_location"])
    errors = []
    for t in range(0, len(expected), 3):
        frame = 1 + t * 24 / 20
        scene.frame_set(int(frame), subframe=frame - int(frame))
        assert rig.pose.bones["c_hand_ik.l"]["ik_fk_switch"] == 1.0  # FK while the take plays
        errors.append(np.linalg.norm(_deform_heads(rig) - expected[t], axis=-1))
    errors = np.array(errors) * 1000
    print(
        f"Auto-Rig Pro FK take: deform joint error mean {errors.mean():.4f} mm, max {errors.max():.4f} mm, "
        f"over {len(errors)} frames x 22 joints"
    )
    assert errors.max() < MAX_JOINT_ERROR_MM
    assert np.linalg.norm(expected[-1, 0] - expected[0, 0]) > 1.0  # the walk moves the rig


def test_correct_pose_on_arp_keys_the_fk_controls(arp_rig, server):
    scene, rig = arp_rig
    control = _addon("arp").rig_for(rig)
    errors = check_correct_pose(rig, control, server[2])
    print(f"Correct Pose on the Auto-Rig Pro rig: deform joint error max {errors.max():.4f} mm")
    assert errors.max() < MAX_JOINT_ERROR_MM
    rest = np.array([tuple(rig.data.bones[n].head_local) for n in DEFORM])
    assert np.linalg.norm(_deform_heads(rig) - rest, axis=-1).max() > 0.05  # the pose changed
