"""Rigs that look like Blender rigs, built in numpy, plus a canonical test motion and an
independent oracle of Blender's pose recursion; shared by tests/test_retarget*.py.

Rigs (SMPL as the Meshcapade SMPL Blender add-on builds it, github.com/Meshcapade/SMPL_blender_addon;
Mixamo and Rigify names as in github.com/pKrime/Expy-Kit, `rig_mapping/presets/`): an SMPL rig with every bone along +Z and roll 0; a Mixamo rig
in a Y-up centimetre armature with bones along their own +Y, other proportions, an A-pose and
random rolls; a Rigify-like rig with twist bones, extra spine/neck bones, fingers, helper bones
and a second root; a Bandai-like rig whose SMPL spine2 is a virtual (blended) joint; and a minimal
rig (one spine bone, no collars) where spine2, spine3 and the collars are all derived.
"""

from __future__ import annotations

import numpy as np
from scipy.spatial.transform import Rotation

from engine.motion.kinematics import forward_kinematics, rest_positions_from_offsets
from engine.motion.rotations import axis_angle_to_quat
from engine.motion.skeleton import JOINT_INDEX, JOINT_NAMES, PARENTS, default_rest_offsets
from engine.rig.description import RigDescription, canonical_to_armature_matrix
from engine.rig.retarget import bind

UP, FORWARD = np.array([0.0, 1.0, 0.0]), np.array([0.0, 0.0, 1.0])


# ----------------------------------------------------------------------------- rig builders
def body(legs: float = 1.0, spine: float = 1.0, arms: float = 1.0, arm_down_deg: float = 0.0) -> dict[str, np.ndarray]:
    """Canonical joint positions (metres, Y up, facing +Z) of a body with other proportions/rest pose."""
    offsets = default_rest_offsets().copy()
    for name in ("left_knee", "right_knee", "left_ankle", "right_ankle"):
        offsets[JOINT_INDEX[name]] *= legs
    for name in ("spine1", "spine2", "spine3", "neck"):
        offsets[JOINT_INDEX[name]] *= spine
    for side, sign in (("left", 1.0), ("right", -1.0)):  # A-pose: arms rotated down about +Z
        turn = Rotation.from_euler("z", -sign * arm_down_deg, degrees=True)
        for name in ("elbow", "wrist"):
            j = JOINT_INDEX[f"{side}_{name}"]
            offsets[j] = turn.apply(offsets[j] * arms)
    positions = rest_positions_from_offsets(offsets) + [0.0, 0.95 * legs, 0.0]
    return {name: positions[i] for i, name in enumerate(JOINT_NAMES)}


def build_rig(
    bones: list[tuple[str, str | None, np.ndarray, np.ndarray]],
    up_axis: str = "Z",
    forward_axis: str = "-Y",
    metres_per_unit: float = 1.0,
    roll_seed: int | None = None,
) -> RigDescription:
    """bones: (name, parent name, head, tail) with head/tail in canonical metres."""
    names = [b[0] for b in bones]
    parents = [names.index(b[1]) if b[1] else -1 for b in bones]
    to_armature = canonical_to_armature_matrix(up_axis, forward_axis)
    heads = np.array([b[2] for b in bones]) / metres_per_unit @ to_armature.T
    tails = np.array([b[3] for b in bones]) / metres_per_unit @ to_armature.T
    rolls = (
        np.zeros(len(bones))
        if roll_seed is None
        else np.random.default_rng(roll_seed).uniform(-np.pi, np.pi, len(bones))
    )
    return RigDescription.from_head_tail_roll(
        names, parents, heads, tails, rolls, up_axis=up_axis, forward_axis=forward_axis, metres_per_unit=metres_per_unit
    )


def smpl_rig() -> RigDescription:
    """The SMPL add-ons' rig: a root bone, then every joint a 0.1 m bone along Blender +Z, roll 0."""
    joints = body()
    bones = [("root", None, np.zeros(3), 0.1 * UP)]
    for j, name in enumerate(JOINT_NAMES):
        parent = JOINT_NAMES[PARENTS[j]] if PARENTS[j] >= 0 else "root"
        bones.append((name, parent, joints[name], joints[name] + 0.1 * UP))
    return build_rig(bones)


def _chain(prefix: str, names: list[str], points: list[np.ndarray], parent: str | None) -> list:
    out = []
    for i, name in enumerate(names):
        out.append((prefix + name, parent if i == 0 else prefix + names[i - 1], points[i], points[i + 1]))
    return out


def _fingers(prefix: str, hand: str, wrist: np.ndarray, direction: np.ndarray, pattern: str) -> list:
    """Four 3-bone fingers; pattern like "LeftHand{finger}{i}" with finger/i filled in."""
    bones = []
    for k, finger in enumerate(("Index", "Middle", "Ring", "Pinky")):
        side = np.cross(direction, UP) * (k - 1.5) * 0.02
        base = wrist + direction * 0.08 + side
        points = [base + direction * 0.03 * i for i in range(4)]
        names = [pattern.format(finger=finger, f=finger.lower(), i=i) for i in (1, 2, 3)]
        bones += _chain(prefix, names, points, hand)
    return bones


def mixamo_rig() -> RigDescription:
    """Mixamo names with namespace, Y-up centimetre armature, long legs, short spine, A-pose."""
    j = body(legs=1.15, spine=0.9, arms=1.05, arm_down_deg=40.0)
    p = "mixamorig:"
    bones = _chain(
        p,
        ["Hips", "Spine", "Spine1", "Spine2", "Neck", "Head", "HeadTop_End"],
        [
            j["pelvis"],
            j["spine1"],
            j["spine2"],
            j["spine3"],
            j["neck"],
            j["head"],
            j["head"] + 0.18 * UP,
            j["head"] + 0.2 * UP,
        ],
        None,
    )
    for side, s in (("Left", "left"), ("Right", "right")):
        toe = j[f"{s}_foot"] + 0.06 * FORWARD
        bones += _chain(
            p,
            [f"{side}UpLeg", f"{side}Leg", f"{side}Foot", f"{side}ToeBase", f"{side}Toe_End"],
            [j[f"{s}_hip"], j[f"{s}_knee"], j[f"{s}_ankle"], j[f"{s}_foot"], toe, toe + 0.02 * FORWARD],
            p + "Hips",
        )
        hand_dir = (j[f"{s}_wrist"] - j[f"{s}_elbow"]) / np.linalg.norm(j[f"{s}_wrist"] - j[f"{s}_elbow"])
        bones += _chain(
            p,
            [f"{side}Shoulder", f"{side}Arm", f"{side}ForeArm", f"{side}Hand"],
            [j[f"{s}_collar"], j[f"{s}_shoulder"], j[f"{s}_elbow"], j[f"{s}_wrist"], j[f"{s}_wrist"] + 0.08 * hand_dir],
            p + "Spine2",
        )
        bones += _fingers(p, p + f"{side}Hand", j[f"{s}_wrist"], hand_dir, side + "Hand{finger}{i}")
    return build_rig(bones, up_axis="Y", forward_axis="Z", metres_per_unit=0.01, roll_seed=1)


def rigify_rig() -> RigDescription:
    """Rigify DEF layer: root bone, 7 spine bones, twist segments, fingers, pelvis/breast helpers."""
    j = body(legs=0.95, spine=1.1, arms=0.95)
    mid = lambda a, b: (j[a] + j[b]) / 2  # noqa: E731 - a local shorthand
    bones = [("root", None, np.zeros(3), 0.3 * FORWARD)]
    bones += _chain(
        "DEF-",
        ["spine", "spine.001", "spine.002", "spine.003", "spine.004", "spine.005", "spine.006"],
        [
            j["pelvis"],
            j["spine1"],
            j["spine2"],
            j["spine3"],
            j["neck"],
            mid("neck", "head"),
            j["head"],
            j["head"] + 0.2 * UP,
        ],
        "root",
    )
    for side, s, x in (("L", "left", 1.0), ("R", "right", -1.0)):
        bones.append((f"DEF-pelvis.{side}", "DEF-spine", j["pelvis"], j["pelvis"] + [0.1 * x, -0.05, 0.08]))
        bones.append(
            (f"DEF-breast.{side}", "DEF-spine.003", j["spine3"] + [0.1 * x, 0, 0.1], j["spine3"] + [0.1 * x, 0, 0.2])
        )
        toe = j[f"{s}_foot"] + 0.07 * FORWARD
        names = [
            f"thigh.{side}",
            f"thigh.{side}.001",
            f"shin.{side}",
            f"shin.{side}.001",
            f"foot.{side}",
            f"toe.{side}",
        ]
        bones += _chain(
            "DEF-",
            names,
            [
                j[f"{s}_hip"],
                mid(f"{s}_hip", f"{s}_knee"),
                j[f"{s}_knee"],
                mid(f"{s}_knee", f"{s}_ankle"),
                j[f"{s}_ankle"],
                j[f"{s}_foot"],
                toe,
            ],
            "DEF-spine",
        )
        hand_dir = np.array([x, 0.0, 0.0])
        names = [
            f"shoulder.{side}",
            f"upper_arm.{side}",
            f"upper_arm.{side}.001",
            f"forearm.{side}",
            f"forearm.{side}.001",
            f"hand.{side}",
        ]
        bones += _chain(
            "DEF-",
            names,
            [
                j[f"{s}_collar"],
                j[f"{s}_shoulder"],
                mid(f"{s}_shoulder", f"{s}_elbow"),
                j[f"{s}_elbow"],
                mid(f"{s}_elbow", f"{s}_wrist"),
                j[f"{s}_wrist"],
                j[f"{s}_wrist"] + 0.08 * hand_dir,
            ],
            "DEF-spine.003",
        )
        bones += _fingers("DEF-", f"DEF-hand.{side}", j[f"{s}_wrist"], hand_dir, "f_{f}.0{i}." + side)
    bones.append(("prop", None, [0.3, 1.0, 0.2], [0.3, 1.2, 0.2]))  # a second root, not a body part
    return build_rig(bones, roll_seed=2)


def bandai_rig() -> RigDescription:
    """The Bandai BVH skeleton: floor-level joint_Root, no bone for SMPL spine2 (a blend)."""
    j = body(legs=1.05, arms=1.1, arm_down_deg=10.0)
    bones = [("joint_Root", None, np.zeros(3), 0.1 * FORWARD)]
    bones += _chain(
        "",
        ["Hips", "Spine", "Chest", "Neck", "Head"],
        [j["pelvis"], j["spine1"], j["spine3"], j["neck"], j["head"], j["head"] + 0.15 * UP],
        "joint_Root",
    )
    for side, s in (("L", "left"), ("R", "right")):
        bones += _chain(
            "",
            [f"UpperLeg_{side}", f"LowerLeg_{side}", f"Foot_{side}", f"Toes_{side}"],
            [j[f"{s}_hip"], j[f"{s}_knee"], j[f"{s}_ankle"], j[f"{s}_foot"], j[f"{s}_foot"] + 0.05 * FORWARD],
            "Hips",
        )
        bones += _chain(
            "",
            [f"Shoulder_{side}", f"UpperArm_{side}", f"LowerArm_{side}", f"Hand_{side}"],
            [
                j[f"{s}_collar"],
                j[f"{s}_shoulder"],
                j[f"{s}_elbow"],
                j[f"{s}_wrist"],
                j[f"{s}_wrist"] + 0.08 * (j[f"{s}_wrist"] - j[f"{s}_elbow"]),
            ],
            "Chest",
        )
    return build_rig(bones, roll_seed=3)


def minimal_rig() -> RigDescription:
    """One spine bone, no collars, a T-pose with bent knees and elbows: SMPL spine2, spine3 and the
    collars are all derived blends (name_maps), the arms hang off the single spine bone."""
    j = body(legs=0.9, arms=1.2)
    for s in ("left", "right"):
        j[f"{s}_knee"] = j[f"{s}_knee"] + [0.0, 0.0, 0.06]
        j[f"{s}_elbow"] = j[f"{s}_elbow"] + [0.0, 0.0, -0.05]
    bones = _chain(
        "",
        ["Hips", "Spine", "Neck", "Head"],
        [j["pelvis"], j["spine1"], j["neck"], j["head"], j["head"] + 0.2 * UP],
        None,
    )
    for side, s in (("Left", "left"), ("Right", "right")):
        bones += _chain(
            "",
            [f"{side}UpLeg", f"{side}Leg", f"{side}Foot", f"{side}ToeBase"],
            [j[f"{s}_hip"], j[f"{s}_knee"], j[f"{s}_ankle"], j[f"{s}_foot"], j[f"{s}_foot"] + 0.05 * FORWARD],
            "Hips",
        )
        bones += _chain(
            "",
            [f"{side}Arm", f"{side}ForeArm", f"{side}Hand"],
            [j[f"{s}_shoulder"], j[f"{s}_elbow"], j[f"{s}_wrist"], 1.1 * j[f"{s}_wrist"] - 0.1 * j[f"{s}_elbow"]],
            "Spine",
        )
    return build_rig(bones, roll_seed=4)


RIGS = {"smpl": smpl_rig, "mixamo": mixamo_rig, "rigify": rigify_rig, "bandai": bandai_rig, "minimal": minimal_rig}


def random_motion(num_frames: int = 40, seed: int = 0) -> np.ndarray:
    """FK of the default skeleton under smooth random local rotations, walking and turning: (T, 22, 3)."""
    rng = np.random.default_rng(seed)
    t = np.arange(num_frames)[:, None, None] / 20.0
    amp = rng.uniform(0.0, 0.5, (1, 22, 3))
    freq, phase = rng.uniform(0.3, 1.5, (1, 22, 3)), rng.uniform(0, 2 * np.pi, (1, 22, 3))
    axis_angle = amp * np.sin(2 * np.pi * freq * t + phase)
    axis_angle[:, 0] += t[:, 0] * np.array([0.0, 0.8, 0.0])  # the root turns as it walks
    offsets = default_rest_offsets()
    root = offsets[0] + t[:, 0] * np.array([0.1, 0.0, 1.2]) + 0.03 * np.sin(6 * t[:, 0]) * UP
    return forward_kinematics(axis_angle_to_quat(axis_angle), root, offsets)


# ----------------------------------------------------------------------------- Blender pose oracle
def blender_pose_heads(rig: RigDescription, quats: np.ndarray, root_bone: str, root_location: np.ndarray) -> np.ndarray:
    """Posed bone heads (T, N, 3) armature units, by Blender's rule with plain 4x4 matrices:
    pose = parent_pose @ parent_rest^-1 @ rest @ Translation(location) @ Rotation(quaternion)."""
    num_frames, n = quats.shape[:2]
    rest = rig.rest_matrices
    basis = np.tile(np.eye(4), (num_frames, n, 1, 1))
    rotations = Rotation.from_quat(quats.reshape(-1, 4), scalar_first=True).as_matrix()
    basis[..., :3, :3] = rotations.reshape(num_frames, n, 3, 3)
    basis[:, rig.names.index(root_bone), :3, 3] = root_location
    pose = np.full((num_frames, n, 4, 4), np.nan)
    while np.isnan(pose).any():  # repeated sweeps: no reliance on any bone order
        for b, p in enumerate(rig.parents):
            if p < 0:
                pose[:, b] = rest[b] @ basis[:, b]
            elif not np.isnan(pose[:, p]).any():
                pose[:, b] = pose[:, p] @ np.linalg.inv(rest[p]) @ rest[b] @ basis[:, b]
    return pose[..., :3, 3]


def to_canonical_directions(rig: RigDescription, vectors: np.ndarray) -> np.ndarray:
    v = vectors @ rig.canonical_to_armature
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def aimed_pairs(rig: RigDescription) -> list[tuple[int, int, int, int]]:
    """(joint, aimed joint, bone, aimed bone) for every aimed joint of the rig."""
    binding = bind(rig)
    return [
        (j, int(a), int(binding.joint_bone[j]), int(binding.joint_bone[a])) for j, a in enumerate(binding.aim) if a >= 0
    ]
