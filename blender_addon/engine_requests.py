"""Engine requests of the panel's tasks and what is done with their replies: the rig as the engine
reads it (its description, mapping, control rig), retarget and rig_to_canonical requests, and writing
a retargeted take onto the armature. Blender data access only; the maths is the engine's.
"""

from __future__ import annotations

import json
import math
import random
from dataclasses import dataclass

import bpy
import numpy as np

from . import arp, control_rig, protocol, rig_io, rigify
from .properties import SEED_MAX

ENGINE_FPS = rig_io.ENGINE_FPS

# ----------------------------------------------------------------------------- helpers


def target_armature(context: bpy.types.Context) -> bpy.types.Object | None:
    settings = context.scene.motion_copilot
    obj = settings.target or context.active_object
    return obj if obj is not None and obj.type == "ARMATURE" else None


def _mapping(context: bpy.types.Context) -> tuple[str, dict | None]:
    settings = context.scene.motion_copilot
    if settings.mapping_preset != "CUSTOM":
        return settings.mapping_preset, None
    try:
        mapping = json.loads(settings.custom_mapping or "{}")
    except json.JSONDecodeError as error:
        raise ValueError(
            f'the custom mapping is not valid JSON ({error.msg}); write {{"smpl joint": "rig bone", ...}}'
        ) from None
    if not isinstance(mapping, dict) or not mapping:
        raise ValueError('the custom mapping is empty; write {"smpl joint": "rig bone", ...}')
    return "CUSTOM", mapping


def rig_parts(context, obj) -> tuple[dict, dict, dict]:
    """(retarget args, rig arrays, rig header) with the panel's mapping preset / custom mapping."""
    preset, custom = _mapping(context)
    header, arrays = rig_io.rig_wire(obj, context.scene)
    args = {"rig": header}
    if custom:
        args["mapping"] = custom
    elif preset != "AUTO":
        args["preset"] = preset.lower()
    elif (arp_rig := arp.rig_for(obj)) is not None:
        args.update(arp_rig.retarget_args)  # the engine has no Auto-Rig Pro preset: name its bones
    return args, arrays, header


@dataclass
class _Target:
    """Where a take is keyed: the retarget's rig description (args, arrays), its bone names, and
    the control rig (Rigify, Auto-Rig Pro) whose FK controls get the keys, if any (control_rig.py)."""

    args: dict
    arrays: dict
    names: list
    control: control_rig.ControlRig | None = None


def rig_target(context, obj) -> _Target:
    """The rig a take is retargeted onto: the armature itself, or for a control rig (Rigify with
    Mapping Auto or Rigify, Auto-Rig Pro with Auto) its deform skeleton, whose pose
    control_rig.bake_fk puts on the FK controls."""
    args, arrays, header = rig_parts(context, obj)
    preset = context.scene.motion_copilot.mapping_preset
    control = (rigify.rig_for(obj) if preset in ("AUTO", "RIGIFY") else None) or (
        arp.rig_for(obj) if preset == "AUTO" else None
    )
    if control is not None:
        deform, deform_arrays = control.deform_wire(header, arrays, rig_io.SMPL_PARENTS)
        return _Target({"rig": deform, **control.retarget_args}, deform_arrays, list(control.deform_bones), control)
    return _Target(args, arrays, list(header["names"]))


def write_take(context, obj, target: _Target, name: str, quats, root, root_bone: str, start: float, **kwargs):
    """Key a retargeted take (rig_io.write_motion); on a control rig onto its FK controls, with each
    limb switched to FK for the take."""
    if target.control is not None:
        names, quats, root = control_rig.bake_fk(context, obj, target.control, rig_io.SMPL_PARENTS, quats, root)
        root_control, switches = target.control.root_control, target.control.switch_paths()
        return rig_io.write_motion(
            obj, context.scene, name, names, quats, root, root_control, start, constants=switches, **kwargs
        )
    return rig_io.write_motion(obj, context.scene, name, target.names, quats, root, root_bone, start, **kwargs)


def retarget_request(
    rig_args: dict,
    rig_arrays: dict,
    positions: np.ndarray,
    placement: dict | None = None,
    in_place: bool = False,
    previous_key: np.ndarray | None = None,
) -> tuple:
    """A retarget request. `placement` (from rig_to_canonical) puts a model's answer, which starts at
    the origin facing +Z, where the rig stood; `in_place` keeps an answer that already lies in the
    rig's frame (predict, inbetween) where it is; `previous_key` (N, 4), the animator's key the motion
    follows, lets the engine match the first key's quaternion signs to it."""
    args = dict(rig_args)
    if placement is not None:
        args["placement"] = placement
    if in_place:
        args["in_place"] = True
    arrays = {"positions": np.asarray(positions, dtype=np.float32), "rest_matrices": rig_arrays["rest_matrices"]}
    if previous_key is not None:
        arrays["previous_key"] = np.asarray(previous_key, dtype=np.float64)
    return "retarget", args, arrays


def canonical_request(rig_args: dict, rig_arrays: dict, heads: np.ndarray) -> tuple:
    """The engine's rig_to_canonical on posed bone heads (T, N, 3): its joint map reads any rig
    the engine knows (SMPL, Mixamo, Rigify, Bandai, names, the custom mapping)."""
    return (
        "rig_to_canonical",
        rig_args,
        {
            "pose_heads": np.asarray(heads, dtype=np.float32).reshape(-1, len(rig_args["rig"]["names"]), 3),
            "rest_matrices": rig_arrays["rest_matrices"],
        },
    )


def canonical_poses(job) -> tuple[np.ndarray, dict]:
    """(positions (T, 22, 3) float32, placement of frame 0) from a rig_to_canonical reply."""
    return job.arrays["positions"], job.result["placement"]


def current_heads(context, obj) -> np.ndarray:
    context.view_layer.update()  # a pose set from a script is evaluated only on the next update
    return rig_io.read_pose_heads(obj)[None]


def retargeted_keys(job, rig_args: dict) -> tuple[np.ndarray, np.ndarray, str]:
    """(rotations (T, N, 4), root track (T, 3), root bone) from a retarget reply, N = the rig's bones."""
    protocol.check_reply(job.op, job.result, job.arrays, {"N": len(rig_args["rig"]["names"])})
    return job.arrays["rotations"], job.arrays["root_location"], job.result["root_bone"]


def reply_text(job) -> str:
    return job.result["text"].strip()


def show_text(context: bpy.types.Context, label: str, text: str) -> str:
    context.window_manager.motion_copilot_job.last_text = text
    return f"{label}: {text}"


def live_object(name: str) -> bpy.types.Object:
    """Re-fetch the armature by name (Python references die on undo); ValueError if it is gone."""
    obj = bpy.data.objects.get(name)
    if obj is None or obj.type != "ARMATURE":
        raise ValueError(f"the armature {name!r} no longer exists; nothing was changed")
    return obj


def take_seed(settings) -> int:
    """The seed for a new take: the panel's own when 'Lock seed' is on, else a fresh one, written
    back to the panel so the animator sees (and can lock) the seed that made what they like."""
    if not settings.lock_seed:
        settings.seed = random.randint(0, SEED_MAX)
    return settings.seed


def fit_scene_range(scene: bpy.types.Scene, actions: list) -> None:
    """Scene start/end frames around the takes' frame ranges (whole frames; part of the undo step)."""
    if not actions:
        return
    first = min(a.frame_range[0] for a in actions)
    last = max(a.frame_range[1] for a in actions)
    scene.frame_start, scene.frame_end = math.floor(first + 1e-4), max(math.ceil(last - 1e-4), math.floor(first) + 1)


def finish_take(scene: bpy.types.Scene, settings, actions: list) -> None:
    if settings.fit_scene_range:
        fit_scene_range(scene, actions)
