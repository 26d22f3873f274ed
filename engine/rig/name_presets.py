"""Preset name tables for engine.rig.name_maps: which bones of a known rig make each SMPL joint.

Data only (kept apart so that name_maps.py holds the matching logic). Presets: `smpl` (SMPL/SMPL-X
add-on rigs), `mixamo`, `rigify` and `bandai` (the Bandai-Namco mocap skeleton).
"""

from __future__ import annotations

# One source of an SMPL joint: a bone name, or a blend ((name, weight), ...) with weights summing to 1.
Blend = tuple[tuple[str, float], ...]
Source = str | Blend


def _both_sides(entries: dict[str, tuple[str, ...]], left: str, right: str) -> dict[str, tuple[Source, ...]]:
    """{"hip": ("UpperLeg_{S}",)} -> {"left_hip": ("UpperLeg_L",), "right_hip": ("UpperLeg_R",)}."""
    table: dict[str, tuple[Source, ...]] = {}
    for joint, names in entries.items():
        table[f"left_{joint}"] = tuple(n.format(S=left) for n in names)
        table[f"right_{joint}"] = tuple(n.format(S=right) for n in names)
    return table


# Preset tables: SMPL joint -> alternative sources, first present one wins. Names are compared
# after _strip_namespace (so "mixamorig:Hips", "mixamorig2:Hips" and "Hips" all match "Hips").
PRESETS: dict[str, dict[str, tuple[Source, ...]]] = {
    "smpl": {
        "pelvis": ("pelvis", "Pelvis", "root"),
        "spine1": ("spine1", "Spine1"),
        "spine2": ("spine2", "Spine2"),
        "spine3": ("spine3", "Spine3"),
        "neck": ("neck", "Neck"),
        "head": ("head", "Head"),
        **{
            f"{side}_{j}": (f"{side}_{j}", f"{side[0].upper()}_{cap}")
            for side in ("left", "right")
            for j, cap in (
                ("hip", "Hip"),
                ("knee", "Knee"),
                ("ankle", "Ankle"),
                ("foot", "Foot"),
                ("collar", "Collar"),
                ("shoulder", "Shoulder"),
                ("elbow", "Elbow"),
                ("wrist", "Wrist"),
            )
        },
    },
    "mixamo": {
        "pelvis": ("Hips",),
        "spine1": ("Spine",),
        "spine2": ("Spine1",),
        "spine3": ("Spine2",),
        "neck": ("Neck",),
        "head": ("Head",),
        **_both_sides(
            {
                "hip": ("{S}UpLeg",),
                "knee": ("{S}Leg",),
                "ankle": ("{S}Foot",),
                "foot": ("{S}ToeBase",),
                "collar": ("{S}Shoulder",),
                "shoulder": ("{S}Arm",),
                "elbow": ("{S}ForeArm",),
                "wrist": ("{S}Hand",),
            },
            "Left",
            "Right",
        ),
    },
    # Rigify: deform bones first, then ORG bones, then FK controls (names as in Expy-Kit's presets,
    # github.com/pKrime/Expy-Kit, `rig_mapping/presets/Rigify_Deform.py` and `Rigify_Controls.py`).
    "rigify": {
        "pelvis": ("DEF-spine", "ORG-spine", "torso"),
        "spine1": ("DEF-spine.001", "ORG-spine.001", "spine_fk.001"),
        "spine2": ("DEF-spine.002", "ORG-spine.002", "spine_fk.002"),
        "spine3": ("DEF-spine.003", "ORG-spine.003", "spine_fk.003"),
        "neck": ("DEF-spine.004", "ORG-spine.004", "neck"),
        "head": ("DEF-spine.006", "ORG-spine.006", "head"),
        **_both_sides(
            {
                "hip": ("DEF-thigh.{S}", "ORG-thigh.{S}", "thigh_fk.{S}"),
                "knee": ("DEF-shin.{S}", "ORG-shin.{S}", "shin_fk.{S}"),
                "ankle": ("DEF-foot.{S}", "ORG-foot.{S}", "foot_fk.{S}"),
                "foot": ("DEF-toe.{S}", "ORG-toe.{S}", "toe.{S}"),
                "collar": ("DEF-shoulder.{S}", "ORG-shoulder.{S}", "shoulder.{S}"),
                "shoulder": ("DEF-upper_arm.{S}", "ORG-upper_arm.{S}", "upper_arm_fk.{S}"),
                "elbow": ("DEF-forearm.{S}", "ORG-forearm.{S}", "forearm_fk.{S}"),
                "wrist": ("DEF-hand.{S}", "ORG-hand.{S}", "hand_fk.{S}"),
            },
            "L",
            "R",
        ),
    },
    # Bandai-Namco Research Motiondataset BVH (22 joints, joint_Root is a floor-level root).
    "bandai": {
        "pelvis": ("Hips",),
        "spine1": ("Spine",),
        "spine2": ((("Spine", 0.5), ("Chest", 0.5)),),
        "spine3": ("Chest",),
        "neck": ("Neck",),
        "head": ("Head",),
        **_both_sides(
            {
                "hip": ("UpperLeg_{S}",),
                "knee": ("LowerLeg_{S}",),
                "ankle": ("Foot_{S}",),
                "foot": ("Toes_{S}",),
                "collar": ("Shoulder_{S}",),
                "shoulder": ("UpperArm_{S}",),
                "elbow": ("LowerArm_{S}",),
                "wrist": ("Hand_{S}",),
            },
            "L",
            "R",
        ),
    },
}
PRESET_NAMES: tuple[str, ...] = tuple(PRESETS)
# Names that only one preset uses: a cheap tie-breaker when several presets resolve a rig.
PRESET_MARKERS = {
    "bandai": ("joint_Root", "Toes_L", "UpperLeg_L"),
    "mixamo": ("LeftUpLeg", "LeftToeBase"),
    "rigify": ("DEF-thigh.L", "ORG-thigh.L", "thigh_fk.L"),
    "smpl": ("left_hip", "L_Hip"),
}
