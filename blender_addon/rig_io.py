"""The only module that reads or writes armature data: rig descriptions, poses and keyframes.

Kept as one module over 400 lines on purpose: every Blender-version branch of the animation API
(slotted actions on 4.4+, `Action.fcurves` on 4.2/4.3) and every bone-order convention stays in one
place, so the rest of the add-on never touches armature data directly.

Conventions (shared with the engine through the wire protocol):
- quaternions are (w, x, y, z), float32/float64, in each pose bone's LOCAL basis (what
  `pose_bone.rotation_quaternion` holds);
- the root track is the root pose bone's `location`, in its local rest frame (Blender units);
- engine motions are sampled at 20 fps; sample i is keyed at frame `start + i * scene_fps / 20`
  (fractional frames allowed), so the scene's frame rate is respected without resampling.

Keys are written with `keyframe_points.add` + `foreach_set("co")` (30x faster than one
`keyframe_insert` per frame, see benchmarks/bench_keyframes.py) through the slotted-action API on
Blender 4.4+ (5.0 removed `Action.fcurves`) and the classic `Action.fcurves` on 4.2/4.3.
Slightly over 400 lines by design: every function that reads or writes armature data lives here.
"""

from __future__ import annotations

from dataclasses import dataclass

import bpy
import numpy as np
from mathutils import Quaternion  # importable wherever bpy is

from .protocol_ops import CANONICAL_JOINT_NAMES, CANONICAL_PARENTS

ENGINE_FPS = 20.0  # HumanML3D frame rate of every engine motion
NLA_TRACK_NAME = "Motion Copilot"
LINEAR = 1  # enum index of 'LINEAR' in keyframe interpolation (CONSTANT=0, LINEAR=1, BEZIER=2)

# SMPL-22 joint names and parents: the protocol's canonical order (the add-on's copy of
# engine/protocol_ops.py, which engine/motion/skeleton.py reads too).
SMPL_JOINT_NAMES: tuple[str, ...] = CANONICAL_JOINT_NAMES
SMPL_PARENTS: tuple[int, ...] = CANONICAL_PARENTS
# Floor-grounded SMPL neutral T-pose joints, metres, Y up, facing +Z (engine skeleton
# default_rest_positions(), rounded to the millimetre); used when the engine is not reachable.
SMPL_REST_YUP = np.array(
    [
        [0.000, 0.920, 0.000],
        [0.072, 0.829, -0.004],
        [-0.066, 0.828, -0.006],
        [-0.001, 1.034, -0.026],
        [0.106, 0.454, -0.011],
        [-0.104, 0.448, -0.013],
        [0.007, 1.170, -0.023],
        [0.090, 0.057, -0.055],
        [-0.083, 0.061, -0.051],
        [0.003, 1.228, 0.003],
        [0.122, 0.001, 0.065],
        [-0.119, 0.000, 0.070],
        [-0.012, 1.436, -0.035],
        [0.073, 1.332, -0.033],
        [-0.081, 1.331, -0.036],
        [0.012, 1.501, 0.017],
        [0.168, 1.377, -0.040],
        [-0.163, 1.375, -0.041],
        [0.419, 1.366, -0.071],
        [-0.416, 1.368, -0.068],
        [0.683, 1.368, -0.063],
        [-0.681, 1.369, -0.068],
    ],
    dtype=np.float64,
)


@dataclass
class RigDescription:
    """What the engine needs to map a rig onto the canonical skeleton.

    names: bone names in `armature.bones` order (N,); parents: (N,) int32, -1 for roots;
    rest_matrices: (N, 4, 4) float64 `bone.matrix_local` (armature space, Blender units);
    world_matrix: (4, 4) float64 armature object matrix_world.
    """

    names: list[str]
    parents: np.ndarray
    rest_matrices: np.ndarray
    world_matrix: np.ndarray


def read_rig(obj: bpy.types.Object) -> RigDescription:
    """Rig description of an armature object, from its rest (edit) pose."""
    bones = obj.data.bones
    names = [bone.name for bone in bones]
    index = {name: i for i, name in enumerate(names)}
    parents = np.array([index[b.parent.name] if b.parent else -1 for b in bones], dtype=np.int32)
    rest = np.empty(len(bones) * 16, dtype=np.float32)
    # foreach_get flattens matrices column-major (mathutils stores columns): transpose back.
    bones.foreach_get("matrix_local", rest)
    rest_matrices = rest.reshape(-1, 4, 4).transpose(0, 2, 1).astype(np.float64)
    world = np.array(obj.matrix_world, dtype=np.float64)
    return RigDescription(names, parents, rest_matrices, world)


def read_pose(obj: bpy.types.Object) -> tuple[np.ndarray, np.ndarray]:
    """Current pose: local quaternions (N, 4) float64 wxyz in bone order, root location (3,).

    Bones keyed in Euler or axis-angle modes are converted to quaternions. The root location is
    the first root bone's local `location`.
    """
    pose_bones = obj.pose.bones
    quats = np.empty((len(pose_bones), 4), dtype=np.float64)
    for i, pb in enumerate(pose_bones):
        quats[i] = _local_quaternion(pb)
    root = next(pb for pb in pose_bones if pb.parent is None)
    return quats, np.array(root.location, dtype=np.float64)


def _local_quaternion(pb: bpy.types.PoseBone) -> tuple[float, float, float, float]:
    if pb.rotation_mode == "QUATERNION":
        q = pb.rotation_quaternion
    elif pb.rotation_mode == "AXIS_ANGLE":
        angle, *axis = pb.rotation_axis_angle
        q = Quaternion(axis, angle)
    else:
        q = pb.rotation_euler.to_quaternion()
    return (q.w, q.x, q.y, q.z)


def scene_fps(scene: bpy.types.Scene) -> float:
    return scene.render.fps / scene.render.fps_base


def sample_frames(n_samples: int, start_frame: float, fps: float, source_fps: float = ENGINE_FPS) -> np.ndarray:
    """Frame coordinate of each engine sample, (n_samples,) float64."""
    return start_frame + np.arange(n_samples, dtype=np.float64) * (fps / source_fps)


ACTION_STEM_CHARS = 48  # "MC_" + stem + "_001" stays inside Blender's 63-character ID names


def action_stem(prompt: str, limit: int = ACTION_STEM_CHARS) -> str:
    """'MC_<prompt words>': whole words joined by '_' while they fit in `limit` characters (a first
    word longer than that is cut), so a name never ends in a cut word's '_'."""
    words = [w for w in "".join(c if c.isalnum() else " " for c in prompt.strip().lower()).split() if w]
    stem = ""
    for word in words:
        candidate = f"{stem}_{word}" if stem else word
        if len(candidate) > limit:
            break
        stem = candidate
    if not stem and words:
        stem = words[0][:limit]
    return "MC_" + stem if stem else "MC_motion"


def unique_action_name(prompt: str) -> str:
    """`action_stem(prompt)` de-duplicated against bpy.data.actions with _001, _002, ..."""
    stem = action_stem(prompt)
    if stem not in bpy.data.actions:
        return stem
    n = 1
    while f"{stem}_{n:03d}" in bpy.data.actions:
        n += 1
    return f"{stem}_{n:03d}"


def _channel_container(action: bpy.types.Action, obj: bpy.types.Object, slot_identifier: str | None = None):
    """(container with .fcurves/.groups, slot or None) for obj in action, on any Blender 4.2+;
    `slot_identifier` names an existing slot (of a copied take) to write into."""
    if bpy.app.version >= (4, 4, 0):
        slot = action.slots.get(slot_identifier) if slot_identifier else None
        slot = slot or action.slots.new(id_type="OBJECT", name=obj.name)
        layer = action.layers[0] if len(action.layers) else action.layers.new("Layer")
        strip = layer.strips[0] if len(layer.strips) else layer.strips.new(type="KEYFRAME")
        return strip.channelbag(slot, ensure=True), slot
    return action, None


def _write_curve(
    container,
    path: str,
    index: int,
    group: str,
    frames: np.ndarray,
    values: np.ndarray,
    keep: tuple[float, float] | None = None,
    hold: float | None = None,
) -> None:
    """Key `values` at `frames` on the F-curve (path, index), creating it when missing.

    keep: with an existing curve (a copied take), its keys outside the open interval (keep[0],
    keep[1]) stay and the ones inside give way to the new keys. hold: for a curve the take did not
    have, the property's value (unanimated) keyed at keep's ends, so the take's frames keep it."""
    fc = container.fcurves.find(path, index=index)
    points = np.asarray(frames, np.float32), np.asarray(values, np.float32)
    if fc is None:
        fc = container.fcurves.new(path, index=index)
        fc.group = container.groups.get(group) or container.groups.new(group)
        if keep is not None and hold is not None:  # the take's frames keep the unanimated value
            ends = np.array([f for f in keep if np.isfinite(f)], np.float32)
            points = (
                np.concatenate([ends, points[0]]),
                np.concatenate([np.full(len(ends), hold, np.float32), points[1]]),
            )
    elif keep is not None:  # the take's keys strictly inside `keep` give way; the others stay as keyed
        inside = [kp for kp in fc.keyframe_points if keep[0] < kp.co[0] < keep[1]]
        for kp in reversed(inside):
            fc.keyframe_points.remove(kp, fast=True)
    n_old, n_new = len(fc.keyframe_points), len(points[0])
    fc.keyframe_points.add(n_new)
    co = np.empty(2 * (n_old + n_new), dtype=np.float32)
    fc.keyframe_points.foreach_get("co", co)
    co[2 * n_old :: 2], co[2 * n_old + 1 :: 2] = points
    fc.keyframe_points.foreach_set("co", co)
    interpolation = np.empty(n_old + n_new, dtype=np.int32)
    fc.keyframe_points.foreach_get("interpolation", interpolation)
    interpolation[n_old:] = LINEAR  # the take's own keys keep theirs
    fc.keyframe_points.foreach_set("interpolation", interpolation)
    fc.update()  # sorts keys and recomputes handles (they stay at 0 otherwise)


def _data_path(bone_name: str, prop: str) -> str:
    escaped = bone_name.replace("\\", "\\\\").replace('"', '\\"')
    return f'pose.bones["{escaped}"].{prop}'


def write_motion(
    obj: bpy.types.Object,
    scene: bpy.types.Scene,
    name: str,
    bone_names: list[str],
    quats: np.ndarray,
    root_location: np.ndarray | None = None,
    root_bone: str | None = None,
    start_frame: float | None = None,
    source_fps: float = ENGINE_FPS,
    push_to_nla: bool = False,
    metadata: dict | None = None,
    extend: tuple[float, float] | None = None,
    constants: dict[str, tuple[str, float]] | None = None,
) -> bpy.types.Action:
    """Key a motion onto `obj` as a NEW action; the animator's action is never modified.

    extend: (lo, hi) frames; the new action is then a COPY of the assigned one (the animator's take)
    with the motion keyed into it: the take's keys at or outside lo and hi stay, keys strictly
    between give way (Continue: (last key, inf); In-between: (From, To)). Without it the action
    holds only the motion. constants: {data path: (group, value)} keyed at the motion's first and
    last frames (a Rigify limb's IK/FK switch held at FK for the take).

    quats: (T, N, 4) wxyz local rotations for `bone_names` (N bones), keyed as they are (the engine's
    retarget makes them sign-continuous, which F-curve interpolation needs); root_location: (T, 3) local
    location of `root_bone` (Blender units) or None; start_frame defaults to the current frame.
    Without `push_to_nla` the new action is assigned and the previous one is kept (fake user, and
    its name stored in the new action's "previous_action"); with it the new action goes onto an
    NLA strip and the current assignment stays as it is. Returns the new action.
    """
    quats = np.asarray(quats, dtype=np.float64)
    if quats.ndim != 3 or quats.shape[1:] != (len(bone_names), 4):
        raise ValueError(f"quats must be (T, {len(bone_names)}, 4), got {quats.shape}")
    missing = [b for b in bone_names if b not in obj.pose.bones]
    if missing:
        raise ValueError(f"bones {missing[:5]} are not in armature {obj.name!r}")
    start = float(scene.frame_current if start_frame is None else start_frame)
    frames = sample_frames(quats.shape[0], start, scene_fps(scene), source_fps)

    adt = obj.animation_data or obj.animation_data_create()
    previous = adt.action
    base = previous if extend is not None else None
    slot_identifier = None
    if base is not None:
        action = base.copy()  # the take's keys, slots and all; the take itself is left as it was
        action.name = name
        action.use_fake_user = True
        if "previous_action" in action:
            del action["previous_action"]
        current = getattr(adt, "action_slot", None)
        slot_identifier = current.identifier if current is not None else None
    else:
        action = bpy.data.actions.new(name)  # may come back as name.001: use the returned object
        action.use_fake_user = True  # unassigned takes survive save/reload
    for key, value in (metadata or {}).items():
        action[key] = value
    if previous is not None:
        previous.use_fake_user = True
        action["previous_action"] = previous.name

    keep = extend if base is not None else None
    container, slot = _channel_container(action, obj, slot_identifier)
    for j, bone in enumerate(bone_names):
        pb = obj.pose.bones[bone]
        pb.rotation_mode = "QUATERNION"
        path = _data_path(bone, "rotation_quaternion")
        for c in range(4):
            hold = float(pb.rotation_quaternion[c])
            _write_curve(container, path, c, bone, frames, quats[:, j, c], keep, hold)
    if root_location is not None and root_bone is not None:
        root_location = np.asarray(root_location, dtype=np.float64).reshape(quats.shape[0], 3)
        location = obj.pose.bones[root_bone].location
        for c in range(3):
            path = _data_path(root_bone, "location")
            _write_curve(container, path, c, root_bone, frames, root_location[:, c], keep, float(location[c]))
    for path, (group, value) in (constants or {}).items():
        ends = frames[[0, -1]]
        current = _property_value(obj, path)
        _write_curve(container, path, 0, group, ends, np.full(2, value), keep, current)
    first, last = float(frames[0]), float(frames[-1])
    if base is not None:
        first, last = min(first, base.frame_range[0]), max(last, base.frame_range[1])
    action.use_frame_range = True
    action.frame_start, action.frame_end = first, last

    if push_to_nla:
        _push_to_nla(adt, action, slot, first)
    else:
        adt.action = action
        if slot is not None:
            adt.action_slot = slot
    return action


def _property_value(obj: bpy.types.Object, path: str) -> float | None:
    """The unanimated value of a numeric property at `path` (None when it cannot be read)."""
    try:
        return float(obj.path_resolve(path))
    except (ValueError, TypeError):
        return None


def _push_to_nla(adt: bpy.types.AnimData, action: bpy.types.Action, slot, start: float) -> None:
    track = adt.nla_tracks.get(NLA_TRACK_NAME) if hasattr(adt.nla_tracks, "get") else None
    if track is None or any(s.frame_start < start + 1 and s.frame_end > start for s in track.strips):
        track = adt.nla_tracks.new()  # strips on one track must not overlap: start a new track
        track.name = NLA_TRACK_NAME
    strip = track.strips.new(action.name, int(round(start)), action)
    if slot is not None and hasattr(strip, "action_slot"):
        strip.action_slot = slot


def write_pose_key(
    obj: bpy.types.Object,
    frame: int,
    bone_names: list[str],
    quats: np.ndarray,
    root_location: np.ndarray | None = None,
    root_bone: str | None = None,
) -> None:
    """Set and key one pose at `frame` in the CURRENT action (an edit, undone with Ctrl-Z).

    quats: (N, 4) wxyz local rotations for bone_names. A single key per channel, so
    `keyframe_insert` is the right tool here (it also creates the action/slot when missing).
    """
    quats = np.asarray(quats, dtype=np.float64).reshape(len(bone_names), 4)
    for bone, q in zip(bone_names, quats):
        pb = obj.pose.bones[bone]
        pb.rotation_mode = "QUATERNION"
        pb.rotation_quaternion = q
        pb.keyframe_insert("rotation_quaternion", frame=frame, group=bone)
    if root_location is not None and root_bone is not None:
        pb = obj.pose.bones[root_bone]
        pb.location = np.asarray(root_location, dtype=np.float64).reshape(3)
        pb.keyframe_insert("location", frame=frame, group=root_bone)


def keyed_frame_range(obj: bpy.types.Object) -> tuple[float, float] | None:
    """Frame range of the assigned action, or None when the object has no animation."""
    adt = obj.animation_data
    if adt is None or adt.action is None:
        return None
    start, end = adt.action.frame_range
    return float(start), float(end)


def read_pose_quats(obj: bpy.types.Object) -> np.ndarray:
    """Local quaternions of the current pose, (N, 4) float64 (w, x, y, z), in `armature.bones` order
    (the rig description's): the key a new motion follows, for retarget's `previous_key`."""
    return read_pose(obj)[0][_bone_order(obj)]


def pose_quats_at(obj: bpy.types.Object, scene: bpy.types.Scene, frame: float) -> np.ndarray:
    """`read_pose_quats` at `frame` (fractional allowed); the scene's current frame is restored."""
    current = scene.frame_current
    try:
        scene.frame_set(int(frame), subframe=float(frame - int(frame)))
        return read_pose_quats(obj)
    finally:
        scene.frame_set(current)


def read_pose_heads(obj: bpy.types.Object) -> np.ndarray:
    """Posed bone heads of the current (evaluated) pose, (N, 3) float32, armature space, bone order.

    `pose_bone.head` is what Blender evaluated: constraints (Rigify's DEF bones follow their
    controls), IK and bone scale included, which the bones' own rotation keys would miss. The engine's
    `rig_to_canonical` turns these into canonical joints through the rig's joint map.
    """
    out = np.empty(len(obj.pose.bones) * 3, dtype=np.float32)
    obj.pose.bones.foreach_get("head", out)
    return out.reshape(-1, 3)[_bone_order(obj)]


def _bone_order(obj: bpy.types.Object) -> np.ndarray:
    """Index of each `armature.bones` name (the rig description's order) among `pose.bones`."""
    pose_index = {pb.name: i for i, pb in enumerate(obj.pose.bones)}
    return np.array([pose_index[bone.name] for bone in obj.data.bones], dtype=np.int64)


def sample_pose_heads(obj: bpy.types.Object, scene: bpy.types.Scene, start: float, end: float) -> np.ndarray:
    """Posed bone heads at 20 fps between two frames (both included), (T, N, 3) float32."""
    frames = np.arange(start, end + 1e-6, scene_fps(scene) / ENGINE_FPS)
    current = scene.frame_current
    order = _bone_order(obj)
    out = np.empty((len(frames), len(obj.pose.bones), 3), dtype=np.float32)
    flat = np.empty(len(obj.pose.bones) * 3, dtype=np.float32)
    try:
        for t, frame in enumerate(frames):
            scene.frame_set(int(frame), subframe=float(frame - int(frame)))
            obj.pose.bones.foreach_get("head", flat)
            out[t] = flat.reshape(-1, 3)[order]
    finally:
        scene.frame_set(current)
    return out


# The joint each SMPL bone points at: the next joint down HumanML3D's kinematic chains (pelvis ->
# spine1, spine3 -> neck, collar -> shoulder, ...), so the bones join up into a readable body.
SMPL_CHILD: dict[int, int] = {
    0: 3, 1: 4, 2: 5, 3: 6, 4: 7, 5: 8, 6: 9, 7: 10, 8: 11, 9: 12,
    12: 15, 13: 16, 14: 17, 16: 18, 17: 19, 18: 20, 19: 21,
}  # fmt: skip
SMPL_LEAF_LENGTH = {15: 0.2, 10: 0.06, 11: 0.06, 20: 0.08, 21: 0.08}  # metres: head, toes, hands


def smpl_bone_tails(heads: np.ndarray) -> np.ndarray:
    """Tail of each SMPL bone, (22, 3), Blender axes: the head of the joint it points at; leaves
    (head, toes, hands) continue their parent bone's direction (the head points up)."""
    tails = np.empty_like(heads)
    for j in range(len(SMPL_JOINT_NAMES)):
        if j in SMPL_CHILD:
            tails[j] = heads[SMPL_CHILD[j]]
            continue
        direction = np.array([0.0, 0.0, 1.0]) if j == 15 else heads[j] - heads[SMPL_PARENTS[j]]
        tails[j] = heads[j] + direction / np.linalg.norm(direction) * SMPL_LEAF_LENGTH[j]
    return tails


def create_smpl_armature(
    context: bpy.types.Context, rest_yup: np.ndarray | None = None, name: str = "SMPL"
) -> bpy.types.Object:
    """A 22-bone SMPL armature at the 3D cursor, made the active and only selected object.

    rest_yup: (22, 3) joint positions in metres, Y up, facing +Z (the engine's rest skeleton);
    defaults to SMPL_REST_YUP. Blender is Z up facing -Y: (x, y, z) -> (x, -z, y). Each bone runs
    from its joint to the next joint of its chain (`smpl_bone_tails`), connected where the child's
    head is the parent's tail, drawn as octahedra in front of meshes: it reads as a body. The
    engine's retarget reads any rest orientation, so the bones need not point along SMPL's axes.
    """
    rest = SMPL_REST_YUP if rest_yup is None else np.asarray(rest_yup, dtype=np.float64)
    heads = np.stack([rest[:, 0], -rest[:, 2], rest[:, 1]], axis=1)
    tails = smpl_bone_tails(heads)
    data = bpy.data.armatures.new(name)
    data.display_type = "OCTAHEDRAL"
    obj = bpy.data.objects.new(name, data)
    obj.show_in_front = True
    context.scene.collection.objects.link(obj)
    obj.location = context.scene.cursor.location
    for other in context.view_layer.objects:
        other.select_set(False)
    obj.select_set(True)
    context.view_layer.objects.active = obj  # mode_set needs the view-layer active object
    previous_mode = obj.mode
    bpy.ops.object.mode_set(mode="EDIT")
    edit_bones = []
    for j, joint in enumerate(SMPL_JOINT_NAMES):
        bone = data.edit_bones.new(joint)
        bone.head, bone.tail, bone.roll = heads[j], tails[j], 0.0
        if SMPL_PARENTS[j] >= 0:
            bone.parent = edit_bones[SMPL_PARENTS[j]]
            bone.use_connect = SMPL_CHILD.get(SMPL_PARENTS[j]) == j
        edit_bones.append(bone)
    bpy.ops.object.mode_set(mode=previous_mode)
    for pb in obj.pose.bones:
        pb.rotation_mode = "QUATERNION"
    return obj


# ----------------------------------------------------------------------------- wire forms

# Mixamo bone (the 'mixamorig:' namespace stripped) for each SMPL joint; the add-on itself
# leaves joint maps to the engine, this table builds Mixamo test rigs (scripts/render_addon_preview.py).
MIXAMO_NAMES: tuple[str, ...] = (
    "Hips",
    "LeftUpLeg",
    "RightUpLeg",
    "Spine",
    "LeftLeg",
    "RightLeg",
    "Spine1",
    "LeftFoot",
    "RightFoot",
    "Spine2",
    "LeftToeBase",
    "RightToeBase",
    "Neck",
    "LeftShoulder",
    "RightShoulder",
    "Head",
    "LeftArm",
    "RightArm",
    "LeftForeArm",
    "RightForeArm",
    "LeftHand",
    "RightHand",
)


def _snap_axis(vector: np.ndarray) -> str:
    """Nearest signed axis name ("Z", "-Y", ...) of a direction."""
    k = int(np.argmax(np.abs(vector)))
    return ("-" if vector[k] < 0 else "") + "XYZ"[k]


def rig_wire(obj: bpy.types.Object, scene: bpy.types.Scene) -> tuple[dict, dict[str, np.ndarray]]:
    """The rig description as the engine's `retarget` and `rig_to_canonical` ops take it: (args["rig"], arrays)
    (engine/rig/description.py RigDescription.from_wire).

    Armature space is what bone matrices live in; the object's rotation tells which armature axes
    are the world's up (+Z) and facing (-Y), and its scale (with the scene unit scale) how many
    metres one armature unit is (an FBX rig imported in centimetres has 0.01).
    """
    rig = read_rig(obj)
    world = rig.world_matrix[:3, :3]
    scales = np.linalg.norm(world, axis=0)
    rotation = world / scales
    up = _snap_axis(rotation.T @ np.array([0.0, 0.0, 1.0]))
    # The facing cannot come from the object's turn about Z (a rig turned to face the camera
    # still faces -Y in its own space): use each tool's convention for the up axis found.
    # Blender-made rigs: Z up, facing -Y; FBX/glTF imports (object tilted 90 deg about X): Y up, facing +Z.
    forward = {"Z": "-Y", "Y": "Z"}.get(up) or _snap_axis(rotation.T @ np.array([0.0, -1.0, 0.0]))
    header = {
        "kind": "rig_description",
        "version": 1,
        "names": rig.names,
        "parents": [int(p) for p in rig.parents],
        "up_axis": up,
        "forward_axis": forward,
        "metres_per_unit": float(scales.mean() * scene.unit_settings.scale_length),
    }
    return header, {"rest_matrices": np.ascontiguousarray(rig.rest_matrices, dtype="<f8")}
