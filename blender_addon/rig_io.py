"""The only module that reads or writes armature data: rig descriptions, poses and keyframes.

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

ENGINE_FPS = 20.0  # HumanML3D frame rate of every engine motion
NLA_TRACK_NAME = "Motion Copilot"
LINEAR = 1  # enum index of 'LINEAR' in keyframe interpolation (CONSTANT=0, LINEAR=1, BEZIER=2)

# SMPL-22 joint names and parents (copied from engine/motion/skeleton.py: the add-on cannot import
# the engine, which pulls in torch; tests/test_addon_rig_io.py checks the two stay equal).
SMPL_JOINT_NAMES: tuple[str, ...] = (
    "pelvis",
    "left_hip",
    "right_hip",
    "spine1",
    "left_knee",
    "right_knee",
    "spine2",
    "left_ankle",
    "right_ankle",
    "spine3",
    "left_foot",
    "right_foot",
    "neck",
    "left_collar",
    "right_collar",
    "head",
    "left_shoulder",
    "right_shoulder",
    "left_elbow",
    "right_elbow",
    "left_wrist",
    "right_wrist",
)
SMPL_PARENTS: tuple[int, ...] = (-1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19)
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
SMPL_BONE_LENGTH = 0.1  # metres; every bone points +Z with this length, as in SMPL-made armatures


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


def unique_action_name(prompt: str) -> str:
    """'MC_<prompt words>' de-duplicated against bpy.data.actions with _001, _002, ..."""
    words = "".join(c if c.isalnum() else "_" for c in prompt.strip().lower()).split("_")
    stem = "MC_" + "_".join(w for w in words if w)[:48] if any(words) else "MC_motion"
    if stem not in bpy.data.actions:
        return stem
    n = 1
    while f"{stem}_{n:03d}" in bpy.data.actions:
        n += 1
    return f"{stem}_{n:03d}"


def _channel_container(action: bpy.types.Action, obj: bpy.types.Object):
    """(container with .fcurves/.groups, slot or None) for obj in action, on any Blender 4.2+."""
    if bpy.app.version >= (4, 4, 0):
        slot = action.slots.new(id_type="OBJECT", name=obj.name)
        layer = action.layers[0] if len(action.layers) else action.layers.new("Layer")
        strip = layer.strips[0] if len(layer.strips) else layer.strips.new(type="KEYFRAME")
        return strip.channelbag(slot, ensure=True), slot
    return action, None


def _write_curve(container, path: str, index: int, group: str, frames: np.ndarray, values: np.ndarray) -> None:
    fc = container.fcurves.new(path, index=index)
    fc.group = container.groups.get(group) or container.groups.new(group)
    co = np.empty(2 * len(frames), dtype=np.float32)
    co[0::2] = frames
    co[1::2] = values
    fc.keyframe_points.add(len(frames))
    fc.keyframe_points.foreach_set("co", co)
    fc.keyframe_points.foreach_set("interpolation", np.full(len(frames), LINEAR, dtype=np.int32))
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
) -> bpy.types.Action:
    """Key a motion onto `obj` as a NEW action; the animator's action is never modified.

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

    action = bpy.data.actions.new(name)  # may come back as name.001: use the returned object
    action.use_fake_user = True  # unassigned takes survive save/reload
    for key, value in (metadata or {}).items():
        action[key] = value
    adt = obj.animation_data or obj.animation_data_create()
    previous = adt.action
    if previous is not None:
        previous.use_fake_user = True
        action["previous_action"] = previous.name

    container, slot = _channel_container(action, obj)
    for j, bone in enumerate(bone_names):
        obj.pose.bones[bone].rotation_mode = "QUATERNION"
        path = _data_path(bone, "rotation_quaternion")
        for c in range(4):
            _write_curve(container, path, c, bone, frames, quats[:, j, c])
    if root_location is not None and root_bone is not None:
        root_location = np.asarray(root_location, dtype=np.float64).reshape(quats.shape[0], 3)
        for c in range(3):
            _write_curve(container, _data_path(root_bone, "location"), c, root_bone, frames, root_location[:, c])
    action.use_frame_range = True
    action.frame_start, action.frame_end = float(frames[0]), float(frames[-1])

    if push_to_nla:
        _push_to_nla(adt, action, slot, start)
    else:
        adt.action = action
        if slot is not None:
            adt.action_slot = slot
    return action


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


def create_smpl_armature(
    context: bpy.types.Context, rest_yup: np.ndarray | None = None, name: str = "SMPL"
) -> bpy.types.Object:
    """A 22-bone SMPL armature at the 3D cursor, made the active object.

    rest_yup: (22, 3) joint positions in metres, Y up, facing +Z (the engine's rest skeleton);
    defaults to SMPL_REST_YUP. Blender is Z up facing -Y: (x, y, z) -> (x, -z, y). Every bone
    points +Z with roll 0 like the SMPL add-ons, so each bone's local axes equal SMPL's Y-up axes.
    """
    rest = SMPL_REST_YUP if rest_yup is None else np.asarray(rest_yup, dtype=np.float64)
    heads = np.stack([rest[:, 0], -rest[:, 2], rest[:, 1]], axis=1)
    data = bpy.data.armatures.new(name)
    obj = bpy.data.objects.new(name, data)
    context.scene.collection.objects.link(obj)
    obj.location = context.scene.cursor.location
    context.view_layer.objects.active = obj  # mode_set needs the view-layer active object
    previous_mode = obj.mode
    bpy.ops.object.mode_set(mode="EDIT")
    edit_bones = []
    for j, joint in enumerate(SMPL_JOINT_NAMES):
        bone = data.edit_bones.new(joint)
        bone.head = heads[j]
        bone.tail = heads[j] + (0.0, 0.0, SMPL_BONE_LENGTH)
        bone.roll = 0.0
        if SMPL_PARENTS[j] >= 0:
            bone.parent = edit_bones[SMPL_PARENTS[j]]
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
