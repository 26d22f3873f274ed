"""The server's operation table: one handler per worker operation, looked up by name.

Every handler has the batch signature `handler(jobs: list[Job]) -> list[Outcome | Exception]`
(one outcome per job, in order). Non-batchable ops always receive a one-job list; `single(fn)` wraps
the simpler `fn(job) -> Outcome` (through `engine.jobs.run_each`: one bad job fails only itself).
An Outcome is `(result: dict, arrays: dict[str, ndarray])`. A handler reports progress with
`job.progress(fraction, message)` and polls `job.cancelled()` (or calls `job.check_cancelled()`,
which raises JobCancelled). Raise `engine.errors.EngineError` subclasses for errors a person can act
on; anything else becomes an `internal_error` reply.

Model operations are plain functions `fn(models, jobs)` in MODEL_OPS, next to the bundle components
they need; `models` is the bundle's `engine.bundle.Models`, which loads each model once. Adding a
model op is one line here plus its function. An op whose component is missing from the bundle
answers `model_unavailable` naming it (and the `motion-train` command that makes it).
`ping`, `info` and `cancel` are answered by the I/O loop itself (engine/server.py), never queued.

This module is the table and the rule-based describe ops; the Job is engine/job.py, the rig ops
(retarget, rig_to_canonical) engine/rig_ops.py, the test-only ops engine/testing_ops.py.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from engine import describe
from engine.bundle import Bundle, Models, models_of
from engine.describe.joints import validate_poses
from engine.errors import InputError, ModelUnavailableError
from engine.job import Job
from engine.jobs import Outcome, run_batched, run_each
from engine.models import lm_handlers, posefix_handlers
from engine.rig_ops import retarget, rig_to_canonical
from engine.testing_ops import sleep, synthetic_forward

Handler = Callable[[list[Job]], list]

# Model operations: op -> (fn(models, jobs) -> outcomes, the bundle components it needs).
MODEL_OPS: dict[str, tuple[Callable[[Models, list], list], tuple[str, ...]]] = {
    "text_to_motion": (lm_handlers.text_to_motion, ("tokenizer", "language_model")),
    "motion_to_text": (lm_handlers.motion_to_text, ("tokenizer", "language_model")),
    "predict": (lm_handlers.predict, ("tokenizer", "language_model")),
    "inbetween": (lm_handlers.inbetween, ("tokenizer", "language_model")),
    "edit_pose": (posefix_handlers.edit_pose, ("pose_editor",)),
    "describe_change:model": (posefix_handlers.describe_change, ("correction_writer",)),
}
# Components each model operation needs from the bundle (the CLI commands check these too).
REQUIRES: dict[str, tuple[str, ...]] = {op: needs for op, (_, needs) in MODEL_OPS.items()}


def single(fn: Callable[[Job], Outcome]) -> Handler:
    """Adapt a one-job function to the batch signature, keeping per-job errors apart."""

    def handler(jobs: list[Job]) -> list:
        return run_each(jobs, fn)

    handler.__name__ = getattr(fn, "__name__", "handler")
    return handler


def unavailable(message: str) -> Handler:
    def handler(jobs: list[Job]) -> list:
        return [ModelUnavailableError(message) for _ in jobs]

    handler.unavailable = message  # type: ignore[attr-defined]
    return handler


# ----------------------------------------------------------------------------- rule-based ops


def _describe_batch(jobs: list[Job], batch_fn: Callable, names: tuple[str, ...]) -> list:
    """Rule-based descriptions under the seeding rule (engine/jobs.py): each job's poses are checked
    alone; a seeded job runs alone (its text comes from its seed only), unseeded jobs with the same
    `deterministic` flag share one call."""

    def prepare(job: Job) -> list[np.ndarray]:
        poses = []
        for name in names:
            label = {"pose_a": "pose A", "pose_b": "pose B"}.get(name, name)
            if np.ndim(job.arrays[name]) != 2:
                raise InputError(
                    f"{label} has shape {np.shape(job.arrays[name])}, but one pose must be (22, 3) joint "
                    "positions in metres; send one request per pose."
                )
            poses.append(validate_poses(job.arrays[name], label)[0])
        return poses

    def run_group(members: list[Job], items: list) -> list:
        first = members[0].args
        stacks = [np.stack([item[k] for item in items]) for k in range(len(names))]
        texts = batch_fn(*stacks, seed=first.get("seed"), deterministic=bool(first.get("deterministic", False)))
        return [({"text": t}, {}) for t in texts]

    def key(job: Job) -> tuple | None:
        return None if job.args.get("seed") is not None else (bool(job.args.get("deterministic", False)),)

    return run_batched(jobs, prepare, run_group, key)


def describe_pose(jobs: list[Job]) -> list:
    return _describe_batch(jobs, describe.describe_poses, ("pose",))


def describe_change_rules(jobs: list[Job]) -> list:
    return _describe_batch(jobs, describe.describe_changes, ("pose_a", "pose_b"))


# ----------------------------------------------------------------------------- the table


@dataclass(frozen=True)
class Operation:
    handler: Handler
    batchable: bool
    unavailable: str | None = None  # why the op is off, for `info`


def _model_handler(op: str, fn: Callable[[Models, list], list], models: Models, requires: tuple[str, ...]) -> Handler:
    """`fn` bound to the bundle's models, which are loaded here, at start-up; `model_unavailable`
    (naming the missing component, or why loading failed) when the bundle cannot serve `op`."""
    name = op.split(":")[0]
    for component in requires:
        if not models.bundle.has(component):
            return unavailable(models.bundle.missing_message(component, name))
    try:
        for component in requires:
            models.load(component)
    except Exception as error:  # noqa: BLE001 - a broken component must not stop start-up
        return unavailable(
            f"loading the model for '{name}' from {models.bundle.root} failed ({error}); "
            "re-export the bundle with `motion-train all`."
        )

    def handler(jobs: list[Job]) -> list:
        return fn(models, jobs)

    handler.__name__ = name
    return handler


def _describe_change_handler(models: Models) -> Handler:
    """describe_change: method "rules" (default, rule-based) or "model" (the correction writer)."""
    fn, requires = MODEL_OPS["describe_change:model"]
    model = _model_handler("describe_change:model", fn, models, requires)
    rules = describe_change_rules

    def handler(jobs: list[Job]) -> list:
        by_model = [job.args.get("method", "rules") == "model" for job in jobs]
        model_out = iter(model([j for j, m in zip(jobs, by_model) if m]) if any(by_model) else [])
        rules_out = iter(rules([j for j, m in zip(jobs, by_model) if not m]) if not all(by_model) else [])
        return [next(model_out) if m else next(rules_out) for m in by_model]

    return handler


def operation_names(enable_test_ops: bool = False) -> dict[str, bool]:
    """Every worker operation `build_operations` serves -> batchable, known without loading models
    (the server validates and queues requests while the models load)."""
    names = {op.split(":")[0]: True for op in MODEL_OPS}
    names.update({"describe_pose": True, "describe_change": True, "retarget": False, "rig_to_canonical": False})
    if enable_test_ops:
        names.update({"sleep": False, "synthetic_forward": True})
    return names


def build_operations(
    bundle: Bundle, device: str, enable_test_ops: bool = False, batching: bool = True
) -> dict[str, Operation]:
    """Handlers for every worker operation; `batching=False` hands each job over alone."""
    models = models_of(bundle, device)
    table: dict[str, tuple[Handler, bool]] = {
        op: (_model_handler(op, fn, models, requires), True)
        for op, (fn, requires) in MODEL_OPS.items()
        if ":" not in op
    }
    table["describe_pose"] = (describe_pose, True)
    table["describe_change"] = (_describe_change_handler(models), True)
    table["retarget"] = (single(retarget), False)
    table["rig_to_canonical"] = (single(rig_to_canonical), False)
    if enable_test_ops:
        table["sleep"] = (single(sleep), False)
        table["synthetic_forward"] = (synthetic_forward, True)
    return {
        op: Operation(handler, batchable and batching, getattr(handler, "unavailable", None))
        for op, (handler, batchable) in table.items()
    }
