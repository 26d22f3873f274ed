"""Rig name maps: presets, detection, automatic matching, explicit maps, virtual joints, errors."""

from __future__ import annotations

import numpy as np
import pytest

from engine.errors import InputError
from engine.motion.skeleton import JOINT_NAMES, default_rest_positions
from engine.rig.name_maps import (
    PRESET_NAMES,
    REQUIRED_JOINTS,
    detect_preset,
    normalise_name,
    resolve_map,
)

BANDAI = [
    "joint_Root",
    "Hips",
    "Spine",
    "Chest",
    "Neck",
    "Head",
    "Shoulder_L",
    "UpperArm_L",
    "LowerArm_L",
    "Hand_L",
    "Shoulder_R",
    "UpperArm_R",
    "LowerArm_R",
    "Hand_R",
    "UpperLeg_L",
    "LowerLeg_L",
    "Foot_L",
    "Toes_L",
    "UpperLeg_R",
    "LowerLeg_R",
    "Foot_R",
    "Toes_R",
]
MIXAMO_BARE = (
    "Hips Spine Spine1 Spine2 Neck Head HeadTop_End LeftShoulder LeftArm LeftForeArm LeftHand "
    "LeftHandThumb1 LeftHandIndex1 RightShoulder RightArm RightForeArm RightHand RightHandPinky2 "
    "LeftUpLeg LeftLeg LeftFoot LeftToeBase LeftToe_End RightUpLeg RightLeg RightFoot "
    "RightToeBase RightToe_End"
).split()
RIGIFY_DEF = (
    ["DEF-spine"]
    + [f"DEF-spine.{i:03d}" for i in range(1, 7)]
    + [
        f"DEF-{b}.{s}"
        for s in "LR"
        for b in ("shoulder", "upper_arm", "upper_arm.001", "forearm", "hand", "thigh", "shin", "foot", "toe")
    ]
)
SMPL_ADDON = [
    "root",
    "Pelvis",
    "L_Hip",
    "R_Hip",
    "Spine1",
    "L_Knee",
    "R_Knee",
    "Spine2",
    "L_Ankle",
    "R_Ankle",
    "Spine3",
    "L_Foot",
    "R_Foot",
    "Neck",
    "L_Collar",
    "R_Collar",
    "Head",
    "L_Shoulder",
    "R_Shoulder",
    "L_Elbow",
    "R_Elbow",
    "L_Wrist",
    "R_Wrist",
    "L_Hand",
    "R_Hand",
]

EXPECTED_BANDAI = {
    "pelvis": "Hips",
    "left_hip": "UpperLeg_L",
    "right_knee": "LowerLeg_R",
    "left_ankle": "Foot_L",
    "right_foot": "Toes_R",
    "left_collar": "Shoulder_L",
    "left_shoulder": "UpperArm_L",
    "right_elbow": "LowerArm_R",
    "left_wrist": "Hand_L",
    "spine1": "Spine",
    "spine3": "Chest",
    "neck": "Neck",
    "head": "Head",
}


@pytest.mark.parametrize(
    "names, preset",
    [
        (BANDAI, "bandai"),
        (MIXAMO_BARE, "mixamo"),
        (["mixamorig:" + n for n in MIXAMO_BARE], "mixamo"),
        (["mixamorig12:" + n for n in MIXAMO_BARE], "mixamo"),
        (RIGIFY_DEF, "rigify"),
        (list(JOINT_NAMES), "smpl"),
        (SMPL_ADDON, "smpl"),
    ],
)
def test_detect_and_resolve_every_preset(names, preset):
    assert detect_preset(names) == preset
    joint_map = resolve_map(names)
    assert joint_map.preset == preset
    assert np.allclose(joint_map.weight_matrix().sum(axis=1), 1.0)


def test_bandai_preset_maps_named_bones_and_virtual_spine2():
    joint_map = resolve_map(BANDAI, preset="bandai")
    for joint, bone in EXPECTED_BANDAI.items():
        assert joint_map.direct_source(joint) == bone, joint
    assert joint_map.direct_source("spine2") is None
    assert joint_map.as_dict()["spine2"] == {"Spine": 0.5, "Chest": 0.5}


# Rigify is left out: its DEF-spine.NNN chain is numbered, not named, so only the preset knows
# which segment is the pelvis, neck or head.
@pytest.mark.parametrize(
    "names", [BANDAI, MIXAMO_BARE, ["mixamorig:" + n for n in MIXAMO_BARE], list(JOINT_NAMES), SMPL_ADDON]
)
def test_auto_matching_agrees_with_the_preset_on_direct_joints(names):
    preset_map = resolve_map(names).as_dict()
    auto_map = resolve_map(names, preset="auto").as_dict()
    joints = [j for j in JOINT_NAMES if len(preset_map[j]) == 1]
    for joint in joints:
        assert auto_map[joint] == preset_map[joint], joint


@pytest.mark.parametrize(
    "name, side, core",
    [
        ("mixamorig:LeftUpLeg", "left", "upleg"),
        ("DEF-thigh.L", "left", "thigh"),
        ("UpperArm_R", "right", "upperarm"),
        ("L_Hip", "left", "hip"),
        ("right_wrist", "right", "wrist"),
        ("foot_l", "left", "foot"),
        ("Bip01 R Thigh", "right", "thigh"),
        ("Spine1", None, "spine1"),
        ("Armature|Hips", None, "hips"),
    ],
)
def test_normalise_name(name, side, core):
    assert normalise_name(name) == (side, core)


def test_unknown_rig_with_other_spellings_is_matched():
    names = ["Root", "Pelvis", "Spine_01", "Spine_02", "Neck", "Head"] + [
        f"{part}.{s}"
        for s in "lr"
        for part in ("Clavicle", "UpperArm", "LowerArm", "Hand", "Thigh", "Calf", "Foot", "Ball")
    ]
    joint_map = resolve_map(names)
    assert joint_map.preset is None
    assert joint_map.direct_source("left_collar") == "Clavicle.l"
    assert joint_map.direct_source("right_shoulder") == "UpperArm.r"
    assert joint_map.direct_source("left_ankle") == "Foot.l"
    assert joint_map.direct_source("right_foot") == "Ball.r"
    assert joint_map.direct_source("spine1") == "Spine_01"
    assert joint_map.direct_source("spine3") == "Spine_02"
    assert "spine2" in joint_map.derived


def test_missing_optional_joints_are_derived_close_to_smpl_rest():
    rest = default_rest_positions()
    required_only = [j for j in JOINT_NAMES if j in REQUIRED_JOINTS]
    joint_map = resolve_map(required_only, preset="smpl")
    assert set(joint_map.derived) == {"spine1", "spine2", "spine3", "left_collar", "right_collar"}
    source = rest[[JOINT_NAMES.index(n) for n in required_only]]
    derived = joint_map.apply(source)
    # Derived joints land within 3 cm of the real SMPL joints; mapped ones are exact.
    assert np.linalg.norm(derived - rest, axis=-1).max() < 0.03
    for joint in REQUIRED_JOINTS:
        assert np.allclose(derived[JOINT_NAMES.index(joint)], rest[JOINT_NAMES.index(joint)])


def test_explicit_map_overrides_and_validates():
    joint_map = resolve_map(BANDAI, explicit={"head": "Neck", "spine2": {"Spine": 1, "Chest": 3}})
    assert joint_map.direct_source("head") == "Neck"
    assert joint_map.as_dict()["spine2"] == {"Spine": 0.25, "Chest": 0.75}
    with pytest.raises(InputError, match="clip.bvh: explicit joint map for 'head' names unknown .*Nose"):
        resolve_map(BANDAI, explicit={"head": "Nose"}, source="clip.bvh")
    with pytest.raises(InputError, match="must be a bone name"):
        resolve_map(BANDAI, explicit={"head": ["Head"]})
    with pytest.raises(InputError, match="not an SMPL joint"):
        resolve_map(BANDAI, explicit={"skull": "Head"})


def test_apply_blends_positions():
    joint_map = resolve_map(BANDAI)
    positions = np.random.default_rng(0).normal(size=(5, len(BANDAI), 3)).astype(np.float32)
    smpl = joint_map.apply(positions)
    assert smpl.shape == (5, 22, 3) and smpl.dtype == np.float32
    spine, chest = BANDAI.index("Spine"), BANDAI.index("Chest")
    np.testing.assert_allclose(smpl[:, 6], 0.5 * (positions[:, spine] + positions[:, chest]), rtol=1e-6)
    np.testing.assert_array_equal(smpl[:, 21], positions[:, BANDAI.index("Hand_R")])


def test_unmapped_required_joints_are_listed():
    names = [n for n in BANDAI if n not in ("Hand_L", "Toes_R")]
    with pytest.raises(InputError) as info:
        resolve_map(names, source="walk.bvh")
    message = str(info.value)
    assert "walk.bvh" in message and "left_wrist" in message and "right_foot" in message
    assert "right_wrist" not in message.split("unmapped:")[1].split(".")[0]
    with pytest.raises(InputError, match="unknown rig preset"):
        resolve_map(BANDAI, preset="maya")
    assert "bandai" in PRESET_NAMES
