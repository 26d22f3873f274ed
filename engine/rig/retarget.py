"""Retargeting canonical motion onto any described rig, and reading a rig's pose back as canonical.

    anim = retarget(positions, rig)               # (T, 22, 3) metres, Y up -> per-bone keys
    anim.rotations       # (T, N, 4) (w, x, y, z): pose_bone.rotation_quaternion of every bone
    anim.root_location   # (T, 3): pose_bones[anim.root_bone].location, rig units
    back = rig_pose_to_canonical(rig, anim.rotations, anim.root_location)   # (T, 22, 3)

Method. The rig's rest pose, read through its joint map (engine/rig/name_maps.py), is itself a
canonical skeleton (its own proportions, its own T- or A-pose). Analytic IK
(engine/motion/kinematics.py) on that rest skeleton gives each canonical joint a global rotation
per frame relative to the rig's rest pose; this carries the twist. For each mapped bone whose
canonical joint continues a kinematic chain (all but the pelvis and the leaves), a final
shortest-arc swing makes the bone's rest aim (its head to the head of the next mapped bone down the
chain, spine3 -> neck) point exactly where the motion's bone points, so
virtual joints and differing proportions cannot bend a limb. Unmapped bones (fingers, twist bones,
extra spine or helper bones) keep their rest pose relative to their parent.

Bone-local keys. Blender poses a bone as pose_b = pose_parent @ rest_parent^-1 @ rest_b @ basis_b.
With rest rotations R, posed rotations G and armature-space deltas D_b = G_b R_b^-1 (what the
retarget computes per bone; an unmapped bone has its parent's), G_b = G_p R_p^-1 R_b Q_b gives the
key Q_b = R_b^-1 D_p^-1 D_b R_b, and a bone's posed head is head_p + D_p (rest_head_b - rest_head_p).

Root. The pelvis bone's location follows the motion's pelvis scaled by rig leg length / motion leg
length, with the motion's origin (floor y = 0 below frame 0's pelvis) on the rig's rest origin
(its lowest mapped joint at rest, below its rest pelvis), then lifted by one constant per clip so the rig's lowest joint is as high as the motion's.

Performance: everything is vectorised over frames; Python loops run only over the 22 joints and
the N bones. 196 frames x 60 bones take about 17 ms of CPU time on one core (half of it the IK),
about 1/90 of a per-frame loop (`python benchmarks/bench_retarget.py`). Tests: `pytest -q tests/test_retarget.py`
(and `tests/test_retarget_blender.py`, which checks the keys inside real Blender).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from engine.errors import InputError
from engine.motion import rotations as R
from engine.motion.kinematics import forward_kinematics, inverse_kinematics
from engine.motion.skeleton import FPS, JOINT_NAMES, KINEMATIC_CHAINS, NUM_JOINTS, PARENTS, offsets_from_positions
from engine.rig.description import RigDescription
from engine.rig.name_maps import JointMap, resolve_map

# The joint after each one along HumanML3D's kinematic chains (spine3 -> neck, not a collar): where
# a joint's bone points. The pelvis starts every chain and leaves end one, so neither has a next.
CHAIN_NEXT: dict[int, int] = {chain[i]: chain[i + 1] for chain in KINEMATIC_CHAINS for i in range(1, len(chain) - 1)}
LEG_JOINTS = ((1, 4, 7), (2, 5, 8))  # (hip, knee, ankle) left and right: the leg-length ratio
MIN_LEG_LENGTH = 1e-6  # a motion or rig with shorter legs than this (in its units) is degenerate
WIRE_KIND = "rig_animation"


@dataclass(frozen=True, eq=False)
class RigAnimation:
    """Keys for one rig: rotations `(T, N, 4)` float64 (w, x, y, z) in each bone's rest frame
    (Blender `pose_bone.rotation_quaternion`, sign-continuous over time), the location track
    `(T, 3)` float64 of `root_bone` in that bone's rest axes and the rig's units, at `fps`.
    `driven_bones` names the bones the motion drives; every other key is the identity (rest
    relative to the parent), so a pose edit may leave those bones (fingers...) as the animator set them."""

    bone_names: tuple[str, ...]
    rotations: np.ndarray
    root_bone: str
    root_location: np.ndarray
    fps: float = FPS
    scale: float = 1.0  # rig leg length / motion leg length (both in metres)
    driven_bones: tuple[str, ...] = ()

    def to_wire(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        header = {
            "kind": WIRE_KIND,
            "bone_names": list(self.bone_names),
            "root_bone": self.root_bone,
            "fps": self.fps,
            "scale": self.scale,
            "driven_bones": list(self.driven_bones),
        }
        arrays = {"rotations": self.rotations, "root_location": self.root_location}
        return header, {k: np.ascontiguousarray(v, dtype="<f8") for k, v in arrays.items()}


@dataclass(frozen=True, eq=False)
class RigBinding:
    """A rig bound to the canonical skeleton (computed once per rig and map; cheap).

    joint_bone `(22,)` bone index per canonical joint, -1 for virtual (blended) joints;
    weights `(22, N)` canonical joints as blends of bone heads; aim `(22,)` the canonical joint
    each joint's bone is aimed at (-1: none); twist_from `(22,)` the joint whose IK frame gives
    that bone's twist (itself, or the last virtual joint the bone spans); rest_canonical `(22, 3)`
    the rig's rest pose as a canonical skeleton (metres, Y up, facing +Z, lowest joint on y = 0,
    pelvis at x = z = 0); origin `(3,)` canonical metres subtracted from the rig's rest joints to
    put them there; leg_length in metres.
    """

    rig: RigDescription
    joint_map: JointMap
    joint_bone: np.ndarray
    weights: np.ndarray
    aim: np.ndarray
    twist_from: np.ndarray
    root_bone: int
    rest_canonical: np.ndarray
    origin: np.ndarray
    leg_length: float
    posed_bones: tuple[int, ...]  # bones whose heads make the 22 joints, and their ancestors


def leg_length(positions: np.ndarray) -> np.ndarray:
    """Mean of left and right hip->knee->ankle lengths: `(..., 22, 3)` -> `(...)`."""
    total = 0.0
    for hip, knee, ankle in LEG_JOINTS:
        total = total + np.linalg.norm(positions[..., knee, :] - positions[..., hip, :], axis=-1)
        total = total + np.linalg.norm(positions[..., ankle, :] - positions[..., knee, :], axis=-1)
    return total / len(LEG_JOINTS)


def _armature_to_canonical(rig: RigDescription, points: np.ndarray) -> np.ndarray:
    """Armature-space points `(..., 3)` in rig units -> canonical axes in metres (no origin shift)."""
    return (points @ rig.canonical_to_armature) * rig.metres_per_unit


def _is_descendant(parents: tuple[int, ...], bone: int, ancestor: int) -> list[int] | None:
    """Bones strictly between `ancestor` and `bone` if `bone` descends from it, else None."""
    between, b = [], parents[bone]
    while b != -1:
        if b == ancestor:
            return between
        between.append(b)
        b = parents[b]
    return None


def rig_joint_map(rig: RigDescription) -> JointMap:
    """The joint map the rig description asks for (its mapping_preset and explicit mapping)."""
    preset = (rig.mapping_preset or "").strip().lower()
    # The add-on's "Auto" means detect a preset, then fall back to names: resolve_map's None.
    return resolve_map(
        rig.names, preset=None if preset in ("", "auto", "custom") else preset, explicit=rig.mapping, source="rig"
    )


def bind(rig: RigDescription, joint_map: JointMap | None = None) -> RigBinding:
    """Bind a rig to the canonical skeleton; `joint_map` defaults to `rig_joint_map(rig)`."""
    if joint_map is None:
        joint_map = rig_joint_map(rig)
    if tuple(joint_map.source_names) != rig.names:
        raise InputError(
            "joint map was built for other bone names than the rig's; build it with resolve_map(rig.names, ...)."
        )
    joint_bone = np.array([rig.names.index(b) if (b := joint_map.direct_source(n)) else -1 for n in JOINT_NAMES])
    mapped = joint_bone[joint_bone >= 0]
    if len(set(mapped.tolist())) != len(mapped):
        dupes = sorted({rig.names[b] for b in mapped if (mapped == b).sum() > 1})
        raise InputError(f"joint map: bones {dupes} stand for several SMPL joints; map each bone once.")
    root = int(joint_bone[0])
    if root < 0:
        raise InputError("joint map: the pelvis must be one bone (it carries the root motion), not a blend.")
    mapped_set = set(mapped.tolist())
    if mapped_set.intersection(_ancestors(rig.parents, root)):
        raise InputError(
            f"rig: the pelvis bone '{rig.names[root]}' lies below another mapped bone; "
            "map the pelvis to the top of the body's hierarchy."
        )
    weights = joint_map.weight_matrix()
    rest = _armature_to_canonical(rig, weights @ rig.rest_heads)
    origin = np.array([rest[0, 0], rest[:, 1].min(), rest[0, 2]])
    rest = rest - origin
    legs = float(leg_length(rest))
    if legs < MIN_LEG_LENGTH:
        raise InputError("rig: the mapped hips, knees and ankles coincide at rest; check the joint map.")
    aim, twist_from = np.full(NUM_JOINTS, -1), np.arange(NUM_JOINTS)
    for j in range(NUM_JOINTS):
        target, last = CHAIN_NEXT.get(j), j
        if joint_bone[j] < 0 or target is None:
            continue
        while joint_bone[target] < 0 and target in CHAIN_NEXT:  # look past virtual joints
            target, last = CHAIN_NEXT[target], target
        if joint_bone[target] < 0:
            continue
        between = _is_descendant(rig.parents, int(joint_bone[target]), int(joint_bone[j]))
        # Aim only along a rigid chain: another mapped bone in between would move the target.
        if between is not None and not mapped_set.intersection(between):
            # A bone spanning virtual joints carries what hangs off its far end (a single spine
            # bone carries the arms): take its twist from the last joint it spans (spine3).
            aim[j], twist_from[j] = target, last
    needed = set()
    for b in np.flatnonzero(np.abs(weights).sum(axis=0) > 0):
        needed.update([int(b), *_ancestors(rig.parents, int(b))])
    posed = tuple(b for b in rig.order if b in needed)
    return RigBinding(rig, joint_map, joint_bone, weights, aim, twist_from, root, rest, origin, legs, posed)


def _ancestors(parents: tuple[int, ...], bone: int) -> list[int]:
    out, b = [], parents[bone]
    while b != -1:
        out.append(b)
        b = parents[b]
    return out


def _check_positions(positions: Any) -> np.ndarray:
    positions = np.asarray(positions, dtype=np.float64)
    if positions.ndim != 3 or positions.shape[1:] != (NUM_JOINTS, 3) or positions.shape[0] == 0:
        raise InputError(
            f"motion positions must have shape (T, 22, 3) with T >= 1 (metres, Y up), got {positions.shape}."
        )
    if not np.isfinite(positions).all():
        raise InputError("motion positions contain NaN or infinite values; clean or drop those frames first.")
    return positions


def canonical_deltas(positions: np.ndarray, binding: RigBinding) -> np.ndarray:
    """Per-joint rotation of the motion relative to the rig's rest pose, canonical axes.

    positions `(T, 22, 3)` metres -> `(T, 22, 4)` (w, x, y, z). Twist comes from IK frames; each
    aimed joint then gets the shortest swing that puts its rig aim exactly on the motion's bone.
    """
    rest = binding.rest_canonical
    offsets = offsets_from_positions(rest)
    frames = np.concatenate([rest[None], positions], axis=0)
    local, root = inverse_kinematics(frames, offsets)
    _, glob = forward_kinematics(local, root, offsets, PARENTS, return_rotations=True)
    # Relative to IK of the rest pose itself, so that the rest pose maps to identity exactly.
    delta = R.quat_multiply(glob[1:], R.quat_conjugate(glob[:1]))
    joints = np.flatnonzero(binding.aim >= 0)  # all aimed joints at once: (T, K, ...)
    aims, base = binding.aim[joints], delta[:, binding.twist_from[joints]]
    current = R.quat_apply(base, rest[aims] - rest[joints])
    wanted = positions[:, aims] - positions[:, joints]
    delta[:, joints] = R.quat_multiply(R.quat_between(current, wanted), base)
    return R.quat_normalize(delta)


def retarget(positions: np.ndarray, rig: RigDescription, joint_map: JointMap | None = None) -> RigAnimation:
    """Canonical motion -> keys for `rig`.

    positions: `(T, 22, 3)` float, metres, Y up, facing +Z at frame 0, 20 fps.
    joint_map: the rig's map onto SMPL-22 (default: `rig_joint_map(rig)`, the description's own choice).
    Returns a RigAnimation (rotations `(T, N, 4)` in each bone's rest frame, root location `(T, 3)`).
    """
    positions = _check_positions(positions)
    binding = bind(rig, joint_map)
    motion_legs = float(np.median(leg_length(positions)))
    if motion_legs < MIN_LEG_LENGTH:
        raise InputError("motion positions: hips, knees and ankles coincide; this is not a body motion.")
    local = bone_keys(canonical_deltas(positions, binding), binding)
    scale = binding.leg_length / motion_legs
    location = _root_location(positions[:, 0], binding, scale)
    lift = _floor_lift(positions, binding, local, location, scale)
    location = _root_location(positions[:, 0], binding, scale, lift)
    driven = tuple(rig.names[b] for b in sorted(binding.joint_bone[binding.joint_bone >= 0]))
    return RigAnimation(rig.names, local, rig.names[binding.root_bone], location, FPS, scale, driven)


def bone_keys(delta: np.ndarray, binding: RigBinding) -> np.ndarray:
    """Canonical per-joint deltas `(T, 22, 4)` -> every bone's local key `(T, N, 4)` (w, x, y, z)."""
    rig = binding.rig
    c = R.matrix_to_quat(rig.canonical_to_armature)
    delta_arm = R.quat_multiply(R.quat_multiply(c, delta), R.quat_conjugate(c))  # C D C^-1
    num_frames, num_bones = delta.shape[0], rig.num_bones
    bone_delta = R.quat_identity((num_frames, num_bones))
    joint_of_bone = {int(b): j for j, b in enumerate(binding.joint_bone) if b >= 0}
    for b in rig.order:
        if b in joint_of_bone:
            bone_delta[:, b] = delta_arm[:, joint_of_bone[b]]
        elif rig.parents[b] >= 0:
            bone_delta[:, b] = bone_delta[:, rig.parents[b]]
    parents = np.array(rig.parents)
    parent_delta = R.quat_identity((num_frames, num_bones))
    parent_delta[:, parents >= 0] = bone_delta[:, parents[parents >= 0]]
    rest_q = R.matrix_to_quat(rig.rest_rotations)  # (N, 4)
    # Q_b = R_b^-1 D_parent^-1 D_b R_b (derived in the module docstring).
    relative = R.quat_multiply(R.quat_conjugate(parent_delta), bone_delta)
    local = R.quat_multiply(R.quat_conjugate(rest_q), R.quat_multiply(relative, rest_q))
    unmapped = np.array([b not in joint_of_bone for b in range(num_bones)])
    local[:, unmapped] = R.quat_identity()  # exactly, not up to rounding
    # w >= 0 on the first frame, then no sign flips: Blender interpolates quaternion components.
    return R.quat_fix(np.concatenate([R.quat_standardize(local[:1]), local[1:]], axis=0))


def _root_location(pelvis: np.ndarray, binding: RigBinding, scale: float, lift: float = 0.0) -> np.ndarray:
    """Motion pelvis `(T, 3)` metres -> the root bone's location `(T, 3)` in its rest axes, rig units.

    The pelvis is scaled about the canonical origin (floor under frame 0's root), placed on the
    rig's rest origin and raised by `lift` metres (see _floor_lift)."""
    rig = binding.rig
    canonical = pelvis * scale + binding.origin + np.array([0.0, lift, 0.0])
    target = canonical / rig.metres_per_unit @ rig.canonical_to_armature.T
    root = binding.root_bone
    return (target - rig.rest_heads[root]) @ rig.rest_rotations[root]


def _floor_lift(
    positions: np.ndarray, binding: RigBinding, local: np.ndarray, location: np.ndarray, scale: float
) -> float:
    """Metres to raise the rig so that its lowest joint is as high as the motion's (scaled).

    Scaling by leg length alone leaves the feet off the floor when the rig's hip height, foot height
    or pelvis width differ in proportion from the performer's (a few centimetres on real rigs).
    One constant per clip, the median over frames, so jumps and jitter do not move the floor.
    """
    locations = np.zeros(local.shape[:2] + (3,))
    locations[:, binding.root_bone] = location
    heads = _rig_forward_kinematics(binding.rig, local, locations, binding.posed_bones)
    joints = _armature_to_canonical(binding.rig, np.einsum("js,tsc->tjc", binding.weights, heads)) - binding.origin
    return float(np.median(scale * positions[..., 1].min(axis=1) - joints[..., 1].min(axis=1)))


def rig_pose_to_canonical(
    rig: RigDescription,
    local_quats: np.ndarray,
    root_location: np.ndarray | None = None,
    joint_map: JointMap | None = None,
    location_bone: str | None = None,
) -> np.ndarray:
    """A rig's pose -> canonical joint positions (forward kinematics on the rig, then the joint map).

    local_quats: `(T, N, 4)` (w, x, y, z) `pose_bone.rotation_quaternion` of every bone, or `(N, 4)`
    for a single pose (the animator's current pose; the result is then `(22, 3)`).
    root_location: `(T, 3)` / `(3,)` `pose_bone.location` of `location_bone` (default: the pelvis
    bone, RigAnimation.root_bone) in rig units, or `(T, N, 3)` / `(N, 3)` every bone's location;
    None means zero.
    Returns `(T, 22, 3)` float64 metres, Y up, facing +Z, relative to the same origin as `retarget`
    uses (the rig at rest: lowest joint on y = 0, pelvis at x = z = 0), at the rig's own size (retarget of the result gives scale 1 and the same keys).
    """
    binding = bind(rig, joint_map)
    quats = np.asarray(local_quats, dtype=np.float64)
    n = rig.num_bones
    single = quats.ndim == 2
    quats = quats[None] if single else quats
    if quats.ndim != 3 or quats.shape[1:] != (n, 4) or not np.isfinite(quats).all():
        raise InputError(
            f"local_quats must be finite with shape (T, {n}, 4) or ({n}, 4) for the rig's "
            f"{n} bones, got {np.shape(local_quats)}."
        )
    num_frames = quats.shape[0]
    locations = np.zeros((num_frames, n, 3))
    if root_location is not None:
        loc = np.asarray(root_location, dtype=np.float64)
        loc = loc[None] if single else loc
        bone = binding.root_bone if location_bone is None else rig.index(location_bone)
        if loc.shape == (num_frames, 3):
            locations[:, bone] = loc
        elif loc.shape == (num_frames, n, 3):
            locations = loc
        else:
            raise InputError(
                f"root_location must have shape {(num_frames, 3)[single:]} or "
                f"{(num_frames, n, 3)[single:]}, got {np.shape(root_location)}."
            )
        if not np.isfinite(locations).all():
            raise InputError("root_location contains NaN or infinite values.")
    heads = _rig_forward_kinematics(rig, R.quat_normalize(quats), locations, binding.posed_bones)
    joints = np.einsum("js,tsc->tjc", binding.weights, heads)
    positions = _armature_to_canonical(rig, joints) - binding.origin
    return positions[0] if single else positions


def _rig_forward_kinematics(
    rig: RigDescription, quats: np.ndarray, locations: np.ndarray, bones: tuple[int, ...] | None = None
) -> np.ndarray:
    """Posed bone heads `(T, N, 3)` armature units, Blender's pose-matrix recursion (no scale).

    bones: the bones to pose, parents first (default all); the others' heads are left at zero.
    """
    rest_rot, heads = rig.rest_rotations, rig.rest_heads
    num_frames = quats.shape[0]
    glob = np.zeros((num_frames, rig.num_bones, 3, 3))
    pos = np.zeros((num_frames, rig.num_bones, 3))
    bones = rig.order if bones is None else bones
    pose_rots = R.quat_to_matrix(quats[:, list(bones)])  # (T, len(bones), 3, 3), one call
    for k, b in enumerate(bones):
        p, pose_rot = rig.parents[b], pose_rots[:, k]
        if p < 0:  # pose = rest @ basis
            glob[:, b] = rest_rot[b] @ pose_rot
            pos[:, b] = heads[b] + locations[:, b] @ rest_rot[b].T
            continue
        rel_rot = rest_rot[p].T @ rest_rot[b]  # parent_rest^-1 @ rest
        rel_pos = rest_rot[p].T @ (heads[b] - heads[p])
        glob[:, b] = glob[:, p] @ (rel_rot @ pose_rot)
        offset = rel_pos + locations[:, b] @ rel_rot.T  # (T, 3)
        pos[:, b] = pos[:, p] + (glob[:, p] @ offset[..., None])[..., 0]
    return pos
