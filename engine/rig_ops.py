"""The rig operations: `retarget` (canonical positions -> a rig's keys) and `rig_to_canonical` (a
rig's pose track -> canonical positions), with the checks of the rig description they both carry.

They live apart from the operation table (engine/operations.py) because they are the engine's only
ops that take a user's armature: their validation (every header key known, every scale a positive
number, every array the rig's bone count) is the largest part of them, and engine/rig/ does the
maths. Both are one-job functions; the table wraps them with `single`.
"""

from __future__ import annotations

import numpy as np

from engine.errors import InputError
from engine.job import Job
from engine.jobs import Outcome
from engine.rig import description, name_maps
from engine.rig import placement as place
from engine.rig import retarget as rig_retarget

# Bone-frames of rig forward kinematics per chunk in rig_to_canonical (72 bytes each: ~36 MB).
FK_BONE_FRAMES = 500_000

# Keys of a rig description header (RigDescription.to_wire, plus the add-on's world matrix and scene
# scale); any other key is refused, never ignored. Number keys must be finite and positive.
RIG_KEYS = frozenset(
    {
        "kind",
        "version",
        "names",
        "parents",
        "up_axis",
        "forward_axis",
        "metres_per_unit",
        "mapping_preset",
        "mapping",
        "world_matrix",
        "scene_metres_per_unit",
    }
)
RIG_SCALES = ("metres_per_unit", "scene_metres_per_unit")


def check_rig_header(header: object) -> None:
    """InputError for a rig header with unknown keys or a scale that is not a positive number."""
    if not isinstance(header, dict):
        raise InputError("rig description header must be a JSON object (RigDescription.to_wire).")
    unknown = sorted(set(header) - RIG_KEYS)
    if unknown:
        raise InputError(f"rig description: unknown key(s) {unknown}; allowed: {sorted(RIG_KEYS)}.")
    for key in RIG_SCALES:
        value = header.get(key, 1.0)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not np.isfinite(value) or value <= 0:
            raise InputError(f"rig description: '{key}' must be a positive number (metres per unit), got {value!r}.")


def _rig_and_map(job: Job) -> tuple:
    """(RigDescription, JointMap or None, retarget module) of a job carrying a rig description.

    `preset`/`mapping` args override the rig header's own choice, normalised like engine.rig
    ("auto"/"custom"/"" = detect); None means the header's choice. A malformed header is an
    InputError (`bad_input`), whatever is wrong with it.
    """
    check_rig_header(job.args["rig"])
    try:
        rig = description.RigDescription.from_wire(job.args["rig"], job.arrays)
    except (TypeError, ValueError, KeyError, IndexError, AttributeError) as error:
        raise InputError(
            f"rig description is malformed ({type(error).__name__}: {error}); re-send the armature."
        ) from None
    joint_map = None
    if "preset" in job.args or "mapping" in job.args:  # overrides the rig header's own choice
        preset = str(job.args.get("preset", "")).strip().lower()
        joint_map = name_maps.resolve_map(
            rig.names,
            preset=None if preset in ("", "auto", "custom") else preset,
            explicit=job.args.get("mapping"),
            source="rig",
        )
    return rig, joint_map, rig_retarget


def retarget(job: Job) -> Outcome:
    """Canonical positions -> rig keys. `placement` (from rig_to_canonical) turns and moves the motion,
    whose frame 0 the models put at the origin facing +Z, to where the rig stood; `in_place` keeps a
    motion already in the rig's frame where it is; `previous_key` `(N, 4)` (the animator's key the
    motion follows) sets the first key's quaternion signs. engine/rig/placement.py does the maths."""
    rig, joint_map, rig_retarget = _rig_and_map(job)
    positions = np.asarray(job.arrays["positions"], np.float64)
    placement = place.placement_arg(job.args, positions)
    previous = job.arrays.get("previous_key")
    if previous is not None and previous.shape[0] != rig.num_bones:
        raise InputError(
            f"retarget: 'previous_key' has {previous.shape[0]} bones but the rig description names "
            f"{rig.num_bones}; send one quaternion per bone, in the order of 'names'."
        )
    if placement is not None:
        positions = place.turn_to(positions, placement[0])
    job.check_cancelled()
    animation = rig_retarget.retarget(positions, rig, joint_map)
    result, arrays = animation.to_wire()
    if placement is not None:  # after scaling, so a rig of other proportions does not drift
        arrays["root_location"] = arrays["root_location"] + place.root_track_offset(
            rig, animation.root_bone, placement[1]
        )
    if previous is not None:
        arrays["rotations"] = place.follow_key(arrays["rotations"], previous)
    return result, arrays


def rig_to_canonical(job: Job) -> Outcome:
    """A rig's pose track -> canonical positions `(T, 22, 3)` float32, metres, Y up.

    Input: `local_quats` `(T, N, 4)` + optional `root_location` `(T, 3)` of `location_bone`, or
    `pose_heads` `(T, N, 3)` (posed bone heads, armature space, as Blender evaluated them:
    constraints and bone scale included). Positions stay in the rig's frame (canonical
    axes, origin at the rig's rest origin), so retargeting them gives back the same keys;
    result["placement"] is frame 0's heading and place, which `retarget` takes to put a model's
    answer (at the origin, facing +Z) back there.
    """
    rig, joint_map, rig_retarget = _rig_and_map(job)
    quats, heads = job.arrays.get("local_quats"), job.arrays.get("pose_heads")
    if (quats is None) == (heads is None):
        raise InputError(
            "rig_to_canonical: send either 'local_quats' (T, N, 4) or 'pose_heads' (T, N, 3), exactly one of them."
        )
    track = quats if quats is not None else heads
    name = "local_quats" if quats is not None else "pose_heads"
    frames, bones = track.shape[0], track.shape[1]
    if bones != rig.num_bones:
        raise InputError(
            f"rig_to_canonical: '{name}' has {bones} bones but the rig description "
            f"names {rig.num_bones}; send one per bone, in the order of 'names'."
        )
    location = job.arrays.get("root_location")
    location_bone = job.args.get("location_bone")
    if heads is not None and (location is not None or location_bone is not None):
        raise InputError(
            "rig_to_canonical: 'root_location' and location_bone go with 'local_quats'; "
            "posed heads already hold every bone's place."
        )
    if location is not None and location.shape[0] != frames:
        raise InputError(
            f"rig_to_canonical: 'root_location' has {location.shape[0]} frames but "
            f"'local_quats' has {frames}; send one location per frame."
        )
    if quats is not None and np.any(np.abs(np.einsum("tnc,tnc->tn", quats, quats) - 1.0) > 0.5):
        raise InputError(
            "rig_to_canonical: 'local_quats' holds zero or far from unit quaternions; "
            "send each bone's rotation_quaternion (w, x, y, z)."
        )
    if location_bone is not None and location_bone not in rig.names:
        raise InputError(
            f"rig_to_canonical: location_bone '{location_bone}' is not a bone of the rig; "
            "send the name of the bone whose location 'root_location' holds."
        )
    binding = rig_retarget.bind(rig, joint_map)  # map errors surface here, once
    out = np.empty((frames, 22, 3), dtype=np.float32)
    if heads is not None:
        out[:] = place.heads_to_canonical(binding, heads)
    else:
        # Frames in chunks: forward kinematics holds (T, N, 3, 3) float64, 72 bytes per bone-frame.
        step = max(1, FK_BONE_FRAMES // rig.num_bones)
        for start in range(0, frames, step):
            job.check_cancelled()
            stop = min(frames, start + step)
            out[start:stop] = rig_retarget.rig_pose_to_canonical(
                rig,
                quats[start:stop],
                None if location is None else location[start:stop],
                binding.joint_map,
                location_bone=location_bone,
            )
            if frames > step:
                job.progress(stop / frames, f"read {stop} of {frames} frames")
    result = {
        "root_bone": rig.names[binding.root_bone],
        "location_bone": None if heads is not None else location_bone or rig.names[binding.root_bone],
        "placement": place.placement_of(out),
    }
    return result, {"positions": out}
