"""Jobs as small generators driven by a timer tick: request, wait without blocking, then write.

A task is a generator that yields a list of requests `(op, args, arrays)` and receives the list of
finished Jobs (all ok) back; its return value is the sentence reported to the animator. Blender
data is only touched inside the generator, i.e. on the main thread during `RUNNER.tick()`, and
writes come after the last reply, so a failed or cancelled task leaves the scene as it was.

`RUNNER.tick()` runs from a `bpy.app.timers` callback in Blender; headless tests call it directly
(timers never fire in the `bpy` module).
"""

from __future__ import annotations

import time
from collections.abc import Generator
from dataclasses import dataclass, field

import bpy

from . import client as mc_client
from .preferences import engine_settings

TICK_SECONDS = 0.1
PING_TIMEOUT = 1.5  # seconds: "Check Connection" answers within 2 s even when the engine is down
Request = tuple  # (op, args dict, arrays dict)
# What each engine operation is doing, in the animator's words (the panel's status line).
OP_PHRASES = {
    "ping": "Checking the engine",
    "text_to_motion": "Generating motion",
    "predict": "Continuing the motion",
    "inbetween": "Filling the in-betweens",
    "retarget": "Fitting the motion to the rig",
    "rig_to_canonical": "Reading the rig's pose",
    "motion_to_text": "Describing the animation",
    "edit_pose": "Correcting the pose",
    "describe_pose": "Describing the pose",
    "describe_change": "Describing the change",
}
CONNECTION_WORDS = {None: "unknown", True: "connected", False: "not reachable"}
TaskGenerator = Generator[list, list, str]


@dataclass
class Task:
    label: str
    steps: TaskGenerator
    jobs: list = field(default_factory=list)
    state: str = "running"  # running | ok | error | cancelled
    message: str = ""

    @property
    def done(self) -> bool:
        return self.state != "running"

    @property
    def progress(self) -> float:
        """Mean fraction of the current step's jobs (variations run side by side), in [0, 1]."""
        return float(sum(j.progress for j in self.jobs) / len(self.jobs)) if self.jobs else 0.0

    @property
    def status(self) -> str:
        """A short plain-English line: what the engine is doing now, with its percentage or the
        job's place in the engine's queue ("Generating motion... 40%")."""
        jobs = [j for j in self.jobs if not j.done] or self.jobs
        if not jobs:
            return f"{self.label}..."
        phrase = OP_PHRASES.get(jobs[0].op, self.label)
        queued = [j.queue_position for j in jobs if j.queue_position]
        if queued:
            return f"{phrase}: waiting, number {min(queued)} in the engine's queue"
        if any(j.progress > 0 for j in jobs):
            return f"{phrase}\u2026 {round(100 * self.progress)}%"
        return f"{phrase}\u2026"


class Runner:
    """Owns the engine client and the running tasks; one per Blender session."""

    def __init__(self) -> None:
        self.client: mc_client.EngineClient | None = None
        self.tasks: list[Task] = []

    def client_for(self, context: bpy.types.Context) -> mc_client.EngineClient:
        address, timeout = engine_settings(context)
        if self.client is None or self.client.address != address:
            if self.client is not None:
                self.client.close()
            self.client = mc_client.EngineClient(address, timeout)
        self.client.timeout = timeout
        return self.client

    def reconnect(self, context: bpy.types.Context) -> None:
        for task in self.tasks:
            self._finish(task, "cancelled", "cancelled: the connection was reset")
        self.client_for(context).reconnect()

    def start(self, context: bpy.types.Context, label: str, steps: TaskGenerator) -> Task:
        """Run the generator up to its first requests and send them; returns the Task."""
        task = Task(label, steps)
        self.tasks.append(task)
        self._advance(context, task, None)
        if not task.done and not bpy.app.timers.is_registered(_timer):
            bpy.app.timers.register(_timer, first_interval=TICK_SECONDS)
        update_state(context)
        return task

    def cancel(self, task: Task) -> None:
        for job in task.jobs:
            if self.client is not None:
                self.client.cancel(job)
        self._finish(task, "cancelled", f"{task.label}: cancelled")

    def tick(self, context: bpy.types.Context) -> list[Task]:
        """Poll the engine once and move every task whose replies are in; returns finished tasks."""
        if self.client is not None:
            self.client.tick()
        finished = []
        for task in list(self.tasks):
            failed = next((j for j in task.jobs if j.state == mc_client.ERROR), None)
            if failed is not None:
                for job in task.jobs:
                    self.client.cancel(job)
                self._finish(task, "error", f"{task.label} failed: {failed.error_message}")
            elif all(j.done for j in task.jobs):
                self._advance(context, task, task.jobs)
            if task.done:
                finished.append(task)
        update_state(context)
        return finished

    def _advance(self, context: bpy.types.Context, task: Task, replies: list | None) -> None:
        try:
            requests = task.steps.send(replies)
        except StopIteration as stop:
            self._finish(task, "ok", stop.value or f"{task.label}: done")
            return
        except Exception as error:  # noqa: BLE001 - any failure becomes a report, never a crash
            self._finish(task, "error", f"{task.label} failed: {error}")
            return
        client = self.client_for(context)
        task.jobs = [
            client.submit(op, args, arrays, timeout=min(PING_TIMEOUT, client.timeout) if op == "ping" else None)
            for op, args, arrays in requests
        ]

    def _finish(self, task: Task, state: str, message: str) -> None:
        task.state, task.message = state, message
        task.steps.close()
        if task in self.tasks:
            self.tasks.remove(task)


RUNNER = Runner()


def update_state(context: bpy.types.Context) -> None:
    """Mirror the runner into the WindowManager job state the panel draws."""
    state = getattr(context.window_manager, "motion_copilot_job", None)
    if state is None:
        return
    state.running = len(RUNNER.tasks)
    if RUNNER.tasks:
        task = RUNNER.tasks[0]
        state.progress, state.status = task.progress, task.status
    else:
        state.progress, state.status = 0.0, ""
    if RUNNER.client is not None:  # every reply and every timeout moves the "Engine:" line
        state.connection = CONNECTION_WORDS[RUNNER.client.reachable]
    if any(j.op == "ping" and not j.done for task in RUNNER.tasks for j in task.jobs):
        state.connection = "checking..."
    # A timer callback has no context.screen: redraw the sidebars of every window's 3D views.
    for window in getattr(context.window_manager, "windows", ()):
        for screen_area in window.screen.areas if window.screen else ():
            if screen_area.type == "VIEW_3D":
                screen_area.tag_redraw()


def _timer() -> float | None:
    RUNNER.tick(bpy.context)
    return TICK_SECONDS if RUNNER.tasks else None


def wait_for(context: bpy.types.Context, task: Task, poll_interval: float = 0.01) -> None:
    """Tick until `task` is done. Every job has a deadline, so this ends; for scripts and tests."""
    while not task.done:
        RUNNER.tick(context)
        if not task.done:
            time.sleep(poll_interval)


def shutdown() -> None:
    if bpy.app.timers.is_registered(_timer):
        bpy.app.timers.unregister(_timer)
    if RUNNER.client is not None:
        RUNNER.client.close()
        RUNNER.client = None
    RUNNER.tasks.clear()
