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
import subprocess

import bpy

from . import rig_io, tasks
from .engine_requests import target_armature
from .preferences import local_engine_command
from .task_steps import (
    continue_steps,
    correct_pose_steps,
    describe_change_steps,
    describe_motion_steps,
    describe_pose_steps,
    generate_steps,
    inbetween_steps,
    ping_steps,
)

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
