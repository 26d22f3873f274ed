"""Rigs made with Auto-Rig Pro (a commercial Blender add-on): results go onto the FK controls.

Auto-Rig Pro names its controls `c_...` and its deforming bones without the prefix (`.l`/`.r`/`.x`
for left, right and centre). The bones are read from the rig alone (Auto-Rig Pro itself is not
needed): FK controls `c_thigh_fk.l`, `c_leg_fk.l`, `c_foot_fk.l`, `c_toes_fk.l`, `c_shoulder.l`,
`c_arm_fk.l`, `c_forearm_fk.l`, `c_hand_fk.l`, the spine `c_root.x`, `c_spine_01.x` ..
`c_spine_03.x`, `c_neck.x`, `c_head.x` under `c_root_master.x` (which carries the location), and
each limb's IK/FK switch, the custom property `ik_fk_switch` on `c_hand_ik.l` / `c_foot_ik.l`
(1.0 = FK). Deform bones: `root.x`, `spine_01.x`.., `thigh.l`, `leg.l`, `foot.l`, `toes_01.l`,
`shoulder.l`, `arm.l`, `forearm.l`, `hand.l`, or their `_stretch` versions where the rig has them
(Auto-Rig Pro deforms the limbs with `thigh_stretch.l`, `arm_stretch.l`, ...; their heads are the
limb joints too). A rig with fewer than three spine bones is not read as Auto-Rig Pro (the deform
skeleton needs one bone per SMPL joint). tests/test_addon_arp.py builds such a rig.
"""

from __future__ import annotations

import bpy

from . import control_rig, rig_io

SWITCH = "ik_fk_switch"  # on c_hand_ik / c_foot_ik: 0 = IK, 1 = FK
ROOT_CONTROL = "c_root_master.x"
# SMPL joint order (rig_io.SMPL_JOINT_NAMES) -> the deform bone's names, preferred first.
_DEFORM: tuple[tuple[str, ...], ...] = (
    ("root.x",),
    ("thigh_stretch.l", "thigh.l"),
    ("thigh_stretch.r", "thigh.r"),
    ("spine_01.x",),
    ("leg_stretch.l", "leg.l"),
    ("leg_stretch.r", "leg.r"),
    ("spine_02.x",),
    ("foot.l",),
    ("foot.r",),
    ("spine_03.x",),
    ("toes_01.l",),
    ("toes_01.r",),
    ("neck.x",),
    ("shoulder.l",),
    ("shoulder.r",),
    ("head.x",),
    ("arm_stretch.l", "arm.l"),
    ("arm_stretch.r", "arm.r"),
    ("forearm_stretch.l", "forearm.l"),
    ("forearm_stretch.r", "forearm.r"),
    ("hand.l",),
    ("hand.r",),
)
# (control, SMPL joint index of the deform bone it moves); the root control first.
_CONTROLS: tuple[tuple[str, int], ...] = (
    (ROOT_CONTROL, 0),
    ("c_root.x", 0),
    ("c_spine_01.x", 3),
    ("c_spine_02.x", 6),
    ("c_spine_03.x", 9),
    ("c_neck.x", 12),
    ("c_head.x", 15),
    *((f"c_{name}.{s}", j + i) for s, i in (("l", 0), ("r", 1)) for name, j in (
        ("thigh_fk", 1), ("leg_fk", 4), ("foot_fk", 7), ("toes_fk", 10),
        ("shoulder", 13), ("arm_fk", 16), ("forearm_fk", 18), ("hand_fk", 20),
    )),
)  # fmt: skip
SWITCH_HOLDERS = ("c_hand_ik.l", "c_hand_ik.r", "c_foot_ik.l", "c_foot_ik.r")


def rig_for(obj: bpy.types.Object) -> control_rig.ControlRig | None:
    """The Auto-Rig Pro control rig of `obj` (its deform bone names picked), or None when `obj`
    lacks any of the controls, deform bones or switches above."""
    bones = obj.data.bones
    deform = tuple(next((n for n in names if n in bones), names[-1]) for names in _DEFORM)
    rig = control_rig.ControlRig(
        name="Auto-Rig Pro",
        deform_bones=deform,
        controls=tuple((control, deform[j]) for control, j in _CONTROLS),
        root_control=ROOT_CONTROL,
        switches=tuple((holder, SWITCH) for holder in SWITCH_HOLDERS),
        retarget_args={"mapping": dict(zip(rig_io.SMPL_JOINT_NAMES, deform))},  # the engine has no ARP preset
    )
    return rig if rig.matches(obj) else None
