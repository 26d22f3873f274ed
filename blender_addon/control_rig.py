"""Rigs animated through FK controls (Rigify, Auto-Rig Pro): a take goes onto the controls.

In a control rig the deforming bones follow the controls through constraints, so keys on the
deforming bones are overridden and do nothing. For such a rig the add-on:

1. asks the engine's retarget for the motion on the rig's *deform skeleton*: the 22 deforming bones
   that stand for SMPL joints, with SMPL's parents and the rig's own rest matrices (`deform_wire`),
   named for the engine by a preset or an explicit joint map (`ControlRig.retarget_args`);
2. poses that skeleton with Blender's pose formula (`_deform_poses`), and snaps each FK control
   onto the deform bone it moves (`pose_bone.matrix = deform pose @ rest offset`, parents first, the
   depsgraph evaluated between levels so helper bones in between, whose constraints may blend in a
   parent's rotation, are exactly where Blender puts them): the snapping Rigify's and Auto-Rig
   Pro's own FK snap operators do with `pose_bone.matrix`;
3. keys the controls' rotations, the root control's location, and each limb's IK/FK switch at FK
   for the take, so the limbs follow the FK controls while it plays.

`rigify.py` and `arp.py` describe the two rigs (bone names, switches) and find them in an armature.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import bpy
import numpy as np
from mathutils import Matrix, Quaternion


@dataclass(frozen=True)
class ControlRig:
    """Which bones of a control rig carry a take.

    deform_bones: 22 deforming bones in SMPL joint order (rig_io.SMPL_JOINT_NAMES).
    controls: (control, the deform bone it moves); the root control first. Several controls may
        move one deform bone (Rigify's torso and spine_fk): the first one counts as its mover.
    root_control: the control that carries the take's location; the others are rotated only.
    switches: (bone, custom property) of each limb's IK/FK switch, held at `fk_value` for a take.
    retarget_args: what names the deform bones for the engine ({"preset": ...} or {"mapping": ...}).
    follower_of: the deform bone a helper bone follows (Rigify's ORG-x follows DEF-x's control), or
        None; orders the controls (a control below such a helper comes after the helper's mover).
    """

    name: str
    deform_bones: tuple[str, ...]
    controls: tuple[tuple[str, str], ...]
    root_control: str
    switches: tuple[tuple[str, str], ...]
    retarget_args: dict = field(default_factory=dict)
    fk_value: float = 1.0
    follower_of: Callable[[str], str | None] = lambda name: None

    def matches(self, obj: bpy.types.Object) -> bool:
        """All of the rig's controls, deform bones and switches are in `obj`."""
        bones = obj.data.bones
        if any(name not in bones for name in self.deform_bones):
            return False
        if any(name not in bones for pair in self.controls for name in pair):
            return False
        return all(b in obj.pose.bones and prop in obj.pose.bones[b] for b, prop in self.switches)

    @property
    def control_names(self) -> list[str]:
        return list(dict.fromkeys(c for c, _ in self.controls))

    def deform_wire(self, header: dict, arrays: dict[str, np.ndarray], parents: tuple[int, ...]) -> tuple[dict, dict]:
        """The deform skeleton as a rig description for the engine: the full rig's `rig_wire` header
        and arrays cut down to deform_bones, each parented as SMPL's `parents` say (the rig parents
        them through helper bones the description leaves out)."""
        index = [header["names"].index(name) for name in self.deform_bones]
        deform = dict(header, names=list(self.deform_bones), parents=[int(p) for p in parents])
        return deform, {"rest_matrices": np.ascontiguousarray(arrays["rest_matrices"][index])}

    def switch_paths(self) -> dict[str, tuple[str, float]]:
        """{F-curve data path: (bone, FK value)} of the IK/FK switches keyed for a take."""
        return {f'pose.bones["{bone}"]["{prop}"]': (bone, self.fk_value) for bone, prop in self.switches}


def _deform_poses(obj: bpy.types.Object, rig: ControlRig, parents: tuple[int, ...], quats, root) -> list:
    """Armature-space pose matrices of the deform skeleton for one frame, from its local keys.

    quats (22, 4) wxyz, root (3,) location of the pelvis bone; Blender's pose formula
    pose_b = pose_parent @ rest_parent^-1 @ rest_b @ basis_b (basis = location @ rotation)."""
    rest = [obj.data.bones[name].matrix_local for name in rig.deform_bones]
    poses: list[Matrix] = []
    for j, parent in enumerate(parents):  # SMPL order lists parents first
        basis = Quaternion(quats[j]).to_matrix().to_4x4()
        if parent < 0:
            poses.append(rest[j] @ (Matrix.Translation(root) @ basis))
        else:
            poses.append(poses[parent] @ rest[parent].inverted() @ rest[j] @ basis)
    return poses


def _levels(obj: bpy.types.Object, rig: ControlRig) -> list[list[tuple[str, str]]]:
    """The controls grouped so that every control comes after those it hangs from: its ancestors,
    and the movers of the deform bones its ancestors follow (Rigify's upper arm hangs off
    ORG-shoulder, which follows the shoulder control). A level is set, then evaluated, in one go."""
    names = set(rig.control_names)
    mover: dict[str, str] = {}
    for control, deform in rig.controls:
        mover.setdefault(deform, control)
    depth: dict[str, int] = {}

    def depth_of(control: str) -> int:
        if control not in depth:
            above, bone = [], obj.data.bones[control].parent
            while bone is not None:
                followed = rig.follower_of(bone.name) or bone.name
                if bone.name in names:
                    above.append(bone.name)
                elif followed in mover:
                    above.append(mover[followed])
                bone = bone.parent
            depth[control] = 1 + max((depth_of(c) for c in above if c != control), default=-1)
        return depth[control]

    for control in names:
        depth_of(control)
    return [[pair for pair in rig.controls if depth[pair[0]] == d] for d in sorted(set(depth.values()))]


def _hemisphere(quats: np.ndarray) -> np.ndarray:
    """(T, C, 4) with one hemisphere per control over time (F-curves interpolate components)."""
    flip = np.einsum("tcq,tcq->tc", quats[1:], quats[:-1]) < 0
    sign = np.concatenate([np.ones((1, quats.shape[1])), np.cumprod(np.where(flip, -1.0, 1.0), axis=0)])
    return quats * sign[..., None]


def bake_fk(
    context: bpy.types.Context,
    obj: bpy.types.Object,
    rig: ControlRig,
    parents: tuple[int, ...],
    quats: np.ndarray,
    root: np.ndarray,
) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Keys of the FK controls that put the deform bones where the engine's keys say.

    quats (T, 22, 4) and root (T, 3): the engine's retarget onto `rig.deform_wire`. Returns (control
    names (C,), rotations (T, C, 4) wxyz sign-continuous, root control location (T, 3)). The rig's
    pose, action and switches are as they were afterwards; nothing is keyed here.
    """
    bones, pose = obj.data.bones, obj.pose.bones
    levels = _levels(obj, rig)
    names = list(dict.fromkeys(c for level in levels for c, _ in level))
    offsets = {c: bones[d].matrix_local.inverted() @ bones[c].matrix_local for c, d in rig.controls}
    adt = obj.animation_data
    saved_action = adt.action if adt is not None else None
    saved_slot = getattr(adt, "action_slot", None) if adt is not None else None
    saved = {c: (pose[c].rotation_mode, tuple(pose[c].rotation_quaternion), tuple(pose[c].rotation_euler),
                 tuple(pose[c].location)) for c in names}  # fmt: skip
    saved_switches = {(b, p): pose[b][p] for b, p in rig.switches}
    pelvis = rig.deform_bones[0]
    out_q = np.empty((len(quats), len(names), 4))
    out_loc = np.empty((len(quats), 3))
    try:
        if adt is not None:
            adt.action = None  # the take must not re-pose the controls at each evaluation
        for b, p in rig.switches:
            pose[b][p] = rig.fk_value
        for c in names:
            pose[c].rotation_mode = "QUATERNION"
        for t in range(len(quats)):
            deform = dict(zip(rig.deform_bones, _deform_poses(obj, rig, parents, quats[t], root[t])))
            for level in levels:
                for control, bone in level:
                    pose[control].matrix = deform[bone] @ offsets[control]
                    if control != rig.root_control:
                        pose[control].location = (0.0, 0.0, 0.0)  # FK controls rotate; the chain places them
                context.view_layer.update()
            # A spine may pivot elsewhere than the pelvis (Rigify's torso sits between the hips and
            # the chest), so the rotations alone can leave the pelvis off by a few centimetres: move
            # the root control, which carries everything, by what the pelvis misses.
            miss = deform[pelvis].translation - pose[pelvis].head
            pose[rig.root_control].matrix = Matrix.Translation(miss) @ pose[rig.root_control].matrix
            context.view_layer.update()
            out_q[t] = [tuple(pose[c].rotation_quaternion) for c in names]
            out_loc[t] = tuple(pose[rig.root_control].location)
    finally:
        for c, (mode, q, e, loc) in saved.items():
            pose[c].rotation_mode = mode  # first: changing the mode converts the current values
            pose[c].rotation_quaternion, pose[c].rotation_euler, pose[c].location = q, e, loc
        for (b, p), value in saved_switches.items():
            pose[b][p] = value
        if adt is not None:
            adt.action = saved_action
            if saved_slot is not None and saved_action is not None:
                adt.action_slot = saved_slot
        context.view_layer.update()
    return names, _hemisphere(out_q), out_loc


def key_pose(obj: bpy.types.Object, rig: ControlRig, frame: int, names: list[str], quats, location) -> None:
    """Set and key one pose of the controls at `frame` in the current action (Correct Pose): their
    rotations (N, 4) wxyz, each in the hemisphere of the control's current rotation (its neighbours'
    keys), the root control's location (3,), and the IK/FK switches at FK."""
    for name, q in zip(names, np.asarray(quats, dtype=np.float64)):
        pb = obj.pose.bones[name]
        current = np.array(pb.rotation_quaternion if pb.rotation_mode == "QUATERNION" else (1.0, 0.0, 0.0, 0.0))
        pb.rotation_mode = "QUATERNION"
        pb.rotation_quaternion = -q if float(np.dot(q, current)) < 0 else q
        pb.keyframe_insert("rotation_quaternion", frame=frame, group=name)
    root = obj.pose.bones[rig.root_control]
    root.location = np.asarray(location, dtype=np.float64).reshape(3)
    root.keyframe_insert("location", frame=frame, group=rig.root_control)
    for bone, prop in rig.switches:
        obj.pose.bones[bone][prop] = rig.fk_value
        obj.pose.bones[bone].keyframe_insert(f'["{prop}"]', frame=frame, group=bone)
