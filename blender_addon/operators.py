"""Operators of the Motion Copilot panel. Each one reads the scene, starts a task (tasks.py) and
returns at once; the task's replies are applied by the timer tick on the main thread.

Clicking a button runs `invoke`: a modal operator that watches its task, reports the engine's
sentence when it ends, cancels on Esc, and finishes as one undo step. `execute` (scripts, tests,
F3 search) starts the task and returns; with `wait=True` it ticks until the task ends and reports
like the modal would, which is how headless tests drive every operator.

Blender data access and UI only: reply arrays are read by the names the protocol's reply schemas
give them (the client has checked each reply against its schema), and every placement and
quaternion computation happens in the engine (retarget's `placement`, `in_place`, `previous_key`).
"""

from __future__ import annotations

import atexit
import json
import math
import random
import subprocess
from dataclasses import dataclass

import bpy
import numpy as np

from . import arp, control_rig, pose_blend, protocol, rig_io, rigify, tasks
from .preferences import local_engine_command
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


def _rig(context, obj) -> tuple[dict, dict, dict]:
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


def _target(context, obj) -> _Target:
    """The rig a take is retargeted onto: the armature itself, or for a control rig (Rigify with
    Mapping Auto or Rigify, Auto-Rig Pro with Auto) its deform skeleton, whose pose
    control_rig.bake_fk puts on the FK controls."""
    args, arrays, header = _rig(context, obj)
    preset = context.scene.motion_copilot.mapping_preset
    control = (rigify.rig_for(obj) if preset in ("AUTO", "RIGIFY") else None) or (
        arp.rig_for(obj) if preset == "AUTO" else None
    )
    if control is not None:
        deform, deform_arrays = control.deform_wire(header, arrays, rig_io.SMPL_PARENTS)
        return _Target({"rig": deform, **control.retarget_args}, deform_arrays, list(control.deform_bones), control)
    return _Target(args, arrays, list(header["names"]))


def _write_take(context, obj, target: _Target, name: str, quats, root, root_bone: str, start: float, **kwargs):
    """Key a retargeted take (rig_io.write_motion); on a control rig onto its FK controls, with each
    limb switched to FK for the take."""
    if target.control is not None:
        names, quats, root = control_rig.bake_fk(context, obj, target.control, rig_io.SMPL_PARENTS, quats, root)
        root_control, switches = target.control.root_control, target.control.switch_paths()
        return rig_io.write_motion(
            obj, context.scene, name, names, quats, root, root_control, start, constants=switches, **kwargs
        )
    return rig_io.write_motion(obj, context.scene, name, target.names, quats, root, root_bone, start, **kwargs)


def _retarget_request(
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


def _canonical_request(rig_args: dict, rig_arrays: dict, heads: np.ndarray) -> tuple:
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


def _canonical(job) -> tuple[np.ndarray, dict]:
    """(positions (T, 22, 3) float32, placement of frame 0) from a rig_to_canonical reply."""
    return job.arrays["positions"], job.result["placement"]


def _current_heads(context, obj) -> np.ndarray:
    context.view_layer.update()  # a pose set from a script is evaluated only on the next update
    return rig_io.read_pose_heads(obj)[None]


def _retargeted(job, rig_args: dict) -> tuple[np.ndarray, np.ndarray, str]:
    """(rotations (T, N, 4), root track (T, 3), root bone) from a retarget reply, N = the rig's bones."""
    protocol.check_reply(job.op, job.result, job.arrays, {"N": len(rig_args["rig"]["names"])})
    return job.arrays["rotations"], job.arrays["root_location"], job.result["root_bone"]


def _text(job) -> str:
    return job.result["text"].strip()


def _show_text(context: bpy.types.Context, label: str, text: str) -> str:
    context.window_manager.motion_copilot_job.last_text = text
    return f"{label}: {text}"


def _live(name: str) -> bpy.types.Object:
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


def _finish_take(scene: bpy.types.Scene, settings, actions: list) -> None:
    if settings.fit_scene_range:
        fit_scene_range(scene, actions)


# ----------------------------------------------------------------------------- task bodies


def generate_steps(context, obj, settings):
    scene = context.scene
    target = _target(context, obj)
    frames = max(1, int(round(settings.length_in_seconds(scene) * ENGINE_FPS)))
    prompt, seed, start = settings.prompt, take_seed(settings), scene.frame_current
    anyway = {"anyway": True} if settings.generate_anyway else {}  # else an unknown prompt is refused
    jobs = yield [
        ("text_to_motion", {"text": prompt, "frames": frames, "seed": seed + v} | anyway, {})
        for v in range(settings.variations)
    ]
    jobs = yield [_retarget_request(target.args, target.arrays, j.arrays["positions"]) for j in jobs]
    obj, written = _live(obj.name), []
    for v, job in enumerate(jobs):
        quats, root, root_bone = _retargeted(job, target.args)
        action = _write_take(
            context,
            obj,
            target,
            rig_io.unique_action_name(prompt),
            quats,
            root,
            root_bone,
            start,
            push_to_nla=settings.push_to_nla,
            metadata={"prompt": prompt, "seed": seed + v, "operation": "generate"},
        )
        written.append(action)
    _finish_take(scene, settings, written)
    return f"Generated {', '.join(a.name for a in written)} (seed {seed})"


def continue_steps(context, obj, settings):
    """Predict what follows the assigned action and key it as a NEW action, from one engine frame
    (1/20 s) after the last key: the animator's keys are never written over."""
    scene = context.scene
    span = rig_io.keyed_frame_range(obj)
    if span is None:
        raise ValueError(f"{obj.name!r} has no animation to continue; key some frames first")
    step = rig_io.scene_fps(scene) / ENGINE_FPS  # scene frames per engine frame
    # Sample back from the last key (at most the last 2 s, enough context) so that the history's
    # last sample IS the last key: the engine's reply starts one engine frame after it.
    samples = int(min((span[1] - span[0]) / step + 1e-6, 2.0 * ENGINE_FPS))
    rig_args, rig_arrays, rig = _rig(context, obj)
    target = _target(context, obj)
    heads = rig_io.sample_pose_heads(obj, scene, span[1] - samples * step, span[1])
    last_key = None if target.control is not None else rig_io.pose_quats_at(obj, scene, span[1])
    (job,) = yield [_canonical_request(rig_args, rig_arrays, heads)]
    motion, _ = _canonical(job)
    frames = int(round(settings.continue_seconds * ENGINE_FPS))
    prompt, seed = settings.prompt, take_seed(settings)
    (job,) = yield [("predict", {"text": prompt, "frames": frames, "seed": seed}, {"motion": motion})]
    # The reply continues the history in the rig's own frame: the engine keeps it there.
    (job,) = yield [_retarget_request(target.args, target.arrays, job.arrays["positions"], None, True, last_key)]
    quats, root, root_bone = _retargeted(job, target.args)
    action = _write_take(
        context,
        _live(obj.name),
        target,
        rig_io.unique_action_name("continue " + prompt),
        quats,
        root,
        root_bone,
        span[1] + step,
        push_to_nla=settings.push_to_nla,
        metadata={"prompt": prompt, "seed": seed, "operation": "continue"},
        extend=(span[1], math.inf),  # the take and what follows it, in one new action
    )
    _finish_take(scene, settings, [action])
    return f"Continued into {action.name} (seed {seed})"


def inbetween_frames(a: float, b: float, fps: float) -> int:
    """Engine frames strictly between scene frames a < b: the gap's 20 fps steps minus one."""
    frames = int(round((b - a) / fps * ENGINE_FPS)) - 1
    if frames < 1:
        raise ValueError(
            f"frames {a:g} and {b:g} are less than two engine frames apart "
            f"({2 * fps / ENGINE_FPS:g} scene frames at {fps:g} fps): nothing to fill; "
            "pick two keys further apart"
        )
    return frames


def inbetween_steps(context, obj, settings):
    """Fill the frames strictly between the poses at 'From' and 'To' as a NEW action (the keyed
    poses stay in the animator's action, untouched)."""
    scene = context.scene
    a, b = settings.inbetween_start, settings.inbetween_end
    if b <= a:
        raise ValueError(f"'To frame' ({b}) must come after 'From frame' ({a})")
    fps = rig_io.scene_fps(scene)
    frames = inbetween_frames(a, b, fps)
    rig_args, rig_arrays, rig = _rig(context, obj)
    target = _target(context, obj)
    heads = np.concatenate([rig_io.sample_pose_heads(obj, scene, f, f) for f in (a, b)])
    first_key = None if target.control is not None else rig_io.pose_quats_at(obj, scene, a)
    (job,) = yield [_canonical_request(rig_args, rig_arrays, heads)]
    (start, end), _ = _canonical(job)
    prompt, seed = settings.prompt, take_seed(settings)
    (job,) = yield [
        (
            "inbetween",
            {"text": prompt, "frames": frames, "seed": seed},
            {"start": start[None], "end": end[None]},
        )
    ]
    # The reply lies between the two poses in the rig's own frame: the engine keeps it there.
    (job,) = yield [_retarget_request(target.args, target.arrays, job.arrays["positions"], None, True, first_key)]
    quats, root, root_bone = _retargeted(job, target.args)
    # The engine spreads its frames evenly over frames + 1 steps from a to b; keying them at that
    # spacing (1/20 s when b - a is a whole number of engine frames) ends them one step before b
    # even when the gap is not.
    spacing_fps = fps * (frames + 1) / (b - a)
    action = _write_take(
        context,
        _live(obj.name),
        target,
        rig_io.unique_action_name("inbetween"),
        quats,
        root,
        root_bone,
        a + (b - a) / (frames + 1),
        source_fps=spacing_fps,
        push_to_nla=settings.push_to_nla,
        metadata={"prompt": prompt, "seed": seed, "operation": "inbetween", "from_frame": a, "to_frame": b},
        extend=(a, b),  # the take with the gap filled, in one new action
    )
    _finish_take(scene, settings, [action])
    return f"In-between written to {action.name} (seed {seed})"


def describe_motion_steps(context, obj, settings):
    span = rig_io.keyed_frame_range(obj)
    if span is None:
        raise ValueError(f"{obj.name!r} has no animation to describe")
    rig_args, rig_arrays, _ = _rig(context, obj)
    (job,) = yield [_canonical_request(rig_args, rig_arrays, rig_io.sample_pose_heads(obj, context.scene, *span))]
    (job,) = yield [("motion_to_text", {"seed": settings.seed}, {"motion": _canonical(job)[0]})]
    return _show_text(context, "Motion", _text(job))


def correct_pose_steps(context, obj, settings):
    rig_args, rig_arrays, rig = _rig(context, obj)
    target = _target(context, obj)
    frame = context.scene.frame_current
    current_key = rig_io.read_pose_quats(obj)
    (job,) = yield [_canonical_request(rig_args, rig_arrays, _current_heads(context, obj))]
    pose, placement = _canonical(job)
    (job,) = yield [("edit_pose", {"text": settings.pose_prompt, "seed": settings.seed}, {"pose": pose[0]})]
    # The editor answers at the origin facing +Z (PoseFix drops the heading and translation):
    # the placement turns and moves the edited pose back to where the animator's pose stood, and
    # the new key takes the quaternion signs of the pose it replaces (its neighbours' hemisphere).
    pose = job.arrays["pose"][None]
    if target.control is not None:  # keyed on the FK controls, as a Generate is
        (job,) = yield [_retarget_request(target.args, target.arrays, pose, placement)]
        quats, root, _ = _retargeted(job, target.args)
        obj = _live(obj.name)
        names, quats, root = control_rig.bake_fk(context, obj, target.control, rig_io.SMPL_PARENTS, quats, root)
        control_rig.key_pose(obj, target.control, frame, names, quats[0], root[0])
        return f"Pose corrected and keyed on the {target.control.name} FK controls at frame {frame}"
    (job,) = yield [_retarget_request(rig_args, rig_arrays, pose, placement, previous_key=current_key)]
    quats, root, root_bone = _retargeted(job, rig_args)
    # Key only the bones the engine drives: the others (fingers, twist bones) come back at rest,
    # and keying that would flatten the animator's hands.
    driven = job.result["driven_bones"]
    keep = [rig["names"].index(b) for b in driven]
    obj = _live(obj.name)
    root_before = np.array(obj.pose.bones[root_bone].location) if root_bone else None
    # On an animated rig the change fades into the keys around the frame (no one-frame pop).
    pose_blend.key_pose_edit(
        obj,
        frame,
        list(driven),
        current_key[keep],
        quats[0, keep],
        root_before,
        root[0],
        root_bone,
        blend_frames=settings.pose_blend_frames,
    )
    return f"Pose corrected and keyed at frame {frame}"


def describe_pose_steps(context, obj, settings):
    rig_args, rig_arrays, _ = _rig(context, obj)
    (job,) = yield [_canonical_request(rig_args, rig_arrays, _current_heads(context, obj))]
    (job,) = yield [("describe_pose", {"deterministic": True}, {"pose": _canonical(job)[0][0]})]
    return _show_text(context, "Pose", _text(job))


def describe_change_steps(context, obj, settings):
    rig_args, rig_arrays, _ = _rig(context, obj)
    other = rig_io.sample_pose_heads(obj, context.scene, settings.compare_frame, settings.compare_frame)
    heads = np.concatenate([other, _current_heads(context, obj)])
    (job,) = yield [_canonical_request(rig_args, rig_arrays, heads)]
    poses, _ = _canonical(job)
    (job,) = yield [("describe_change", {"deterministic": True}, {"pose_a": poses[0], "pose_b": poses[1]})]
    return _show_text(context, f"From frame {settings.compare_frame}", _text(job))


def ping_steps(context, obj, settings):
    state = context.window_manager.motion_copilot_job
    state.connection = "checking..."
    yield [("ping", {}, {})]
    state.connection = "connected"
    return f"Engine at {tasks.RUNNER.client.address} answered"


# ----------------------------------------------------------------------------- operators


class _EngineOperator(bpy.types.Operator):
    """Base: start a task in execute, watch it modally from invoke."""

    bl_options = {"REGISTER", "UNDO"}
    needs_armature = True
    label = ""
    wait: bpy.props.BoolProperty(
        name="Wait",
        default=False,
        options={"HIDDEN", "SKIP_SAVE"},
        description="Block until the engine answers (scripts and tests)",
    )

    @classmethod
    def poll(cls, context):
        return not cls.needs_armature or target_armature(context) is not None

    def steps(self, context, obj, settings):
        raise NotImplementedError

    def _start(self, context):
        context.window_manager.motion_copilot_job.begin_job()  # a new job: the old error no longer applies
        generator = self.steps(context, target_armature(context), context.scene.motion_copilot)
        return tasks.RUNNER.start(context, self.label or self.bl_label, generator)

    def execute(self, context):
        task = self._start(context)
        if self.wait:
            tasks.wait_for(context, task)
        return self._report(context, task) if task.done else {"FINISHED"}

    def invoke(self, context, event):
        self._task = self._start(context)
        if self._task.done:
            return self._report(context, self._task)
        self._timer = context.window_manager.event_timer_add(tasks.TICK_SECONDS, window=context.window)
        context.window_manager.modal_handler_add(self)
        return {"RUNNING_MODAL"}

    def modal(self, context, event):
        if event.type == "ESC":
            tasks.RUNNER.cancel(self._task)
        if event.type == "TIMER" and not self._task.done:
            tasks.RUNNER.tick(context)
        if not self._task.done:
            return {"PASS_THROUGH"}
        context.window_manager.event_timer_remove(self._timer)
        return self._report(context, self._task)

    def _report(self, context, task):
        state = context.window_manager.motion_copilot_job
        if task.state == "ok":
            self.report({"INFO"}, task.message)
            return {"FINISHED"}
        state.last_error = task.message
        if isinstance(self, MOTIONCOPILOT_OT_ping):
            state.connection = "not reachable"
        self.report({"WARNING"} if task.state == "cancelled" else {"ERROR"}, task.message)
        return {"CANCELLED"}


def _operator(idname: str, label: str, description: str, steps, needs_armature: bool = True, undo: bool = True):
    namespace = {
        "bl_idname": f"motion_copilot.{idname}",
        "bl_label": label,
        "bl_description": description,
        "needs_armature": needs_armature,
        "steps": lambda self, c, o, s: steps(c, o, s),
    }
    if not undo:
        namespace["bl_options"] = {"REGISTER"}
    return type(f"MOTIONCOPILOT_OT_{idname}", (_EngineOperator,), namespace)


MOTIONCOPILOT_OT_ping = _operator("ping", "Check Connection", "Ping the engine", ping_steps, False, False)
ENGINE_OPERATORS = (
    MOTIONCOPILOT_OT_ping,
    _operator("generate", "Generate", "Generate motion from the prompt as new action(s) on the rig", generate_steps),
    _operator("continue_motion", "Continue", "Continue the rig's animation", continue_steps),
    _operator("inbetween", "In-between", "Fill the frames between two keyed poses", inbetween_steps),
    _operator(
        "describe_motion",
        "Describe Animation",
        "Describe the rig's animation in words",
        describe_motion_steps,
        undo=False,
    ),
    _operator(
        "correct_pose", "Correct Pose", "Change the current pose as the correction says and key it", correct_pose_steps
    ),
    _operator("describe_pose", "Describe Pose", "Describe the current pose in words", describe_pose_steps, undo=False),
    _operator(
        "describe_change",
        "Describe Change",
        "Describe how the pose changed since the other frame",
        describe_change_steps,
        undo=False,
    ),
)


class MOTIONCOPILOT_OT_cancel(bpy.types.Operator):
    bl_idname = "motion_copilot.cancel"
    bl_label = "Cancel"
    bl_description = "Cancel the running engine jobs"

    def execute(self, context):
        for task in list(tasks.RUNNER.tasks):
            tasks.RUNNER.cancel(task)
        tasks.update_state(context)
        return {"FINISHED"}


_LOCAL_ENGINE: list[subprocess.Popen] = []  # the engine this Blender started, if any


def local_engine() -> subprocess.Popen | None:
    """The engine process started from the panel, while it runs."""
    return next((p for p in _LOCAL_ENGINE if p.poll() is None), None)


def stop_local_engine(grace: float = 3.0) -> None:
    """Stop the engine the panel started (terminate, then kill after `grace` seconds). Runs when
    Blender quits (atexit) and when the add-on is disabled: an engine nobody can reach through
    the panel any more would otherwise hold its port and its memory."""
    while _LOCAL_ENGINE:
        process = _LOCAL_ENGINE.pop()
        if process.poll() is not None:
            continue
        process.terminate()
        try:
            process.wait(grace)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(grace)


atexit.register(stop_local_engine)  # Blender runs atexit handlers when it quits


class MOTIONCOPILOT_OT_start_engine(bpy.types.Operator):
    bl_idname = "motion_copilot.start_engine"
    bl_label = "Start / Reconnect"
    bl_description = "Start the local engine (if configured in the preferences) and reconnect"

    def execute(self, context):
        command = local_engine_command(context)
        if command is not None and local_engine() is None:  # one engine per port: reuse a running one
            try:
                _LOCAL_ENGINE.append(subprocess.Popen(command, stdin=subprocess.DEVNULL, start_new_session=True))
            except OSError as error:
                self.report(
                    {"ERROR"},
                    f"could not start the engine with {command[0]}: {error}; "
                    "check 'Engine Python' in the add-on preferences",
                )
                return {"CANCELLED"}
        tasks.RUNNER.reconnect(context)
        bpy.ops.motion_copilot.ping("INVOKE_DEFAULT" if context.window else "EXEC_DEFAULT")
        return {"FINISHED"}


class MOTIONCOPILOT_OT_create_smpl_armature(bpy.types.Operator):
    bl_idname = "motion_copilot.create_smpl_armature"
    bl_label = "Create SMPL Armature"
    bl_description = "Add a 22-bone SMPL armature at the 3D cursor, ready to animate"
    bl_options = {"REGISTER", "UNDO"}

    def execute(self, context):
        if context.mode != "OBJECT" and context.active_object is not None:
            bpy.ops.object.mode_set(mode="OBJECT")
        obj = rig_io.create_smpl_armature(context)  # active and selected
        # Rig = the active object and Mapping = Auto (the engine detects SMPL names): pinning them
        # to this armature would make the next rig the animator picks fail with the SMPL mapping.
        settings = context.scene.motion_copilot
        settings.target, settings.mapping_preset = None, "AUTO"
        self.report({"INFO"}, f"Created {obj.name}: a 22-bone SMPL armature, selected and ready to animate")
        return {"FINISHED"}


CLASSES = (
    *ENGINE_OPERATORS,
    MOTIONCOPILOT_OT_cancel,
    MOTIONCOPILOT_OT_start_engine,
    MOTIONCOPILOT_OT_create_smpl_armature,
)


def register() -> None:
    for cls in CLASSES:
        bpy.utils.register_class(cls)


def unregister() -> None:
    tasks.shutdown()
    stop_local_engine()
    for cls in reversed(CLASSES):
        bpy.utils.unregister_class(cls)
