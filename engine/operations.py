"""The server's operation table: one handler per worker operation, looked up by name.

Every handler has the batch signature `handler(jobs: list[Job]) -> list[Outcome | Exception]`
(one outcome per job, in order). Non-batchable ops always receive a one-job list; `single(fn)` wraps
the simpler `fn(job) -> Outcome`. An Outcome is `(result: dict, arrays: dict[str, ndarray])`.
A handler reports progress with `job.progress(fraction, message)` and polls `job.cancelled()` (or
calls `job.check_cancelled()`, which raises JobCancelled). Raise `engine.errors.EngineError`
subclasses for errors a person can act on; anything else becomes an `internal_error` reply.

Plugging in a real model: add a factory to MODEL_FACTORIES,
    MODEL_FACTORIES["text_to_motion"] = lambda bundle, device: make_t2m_handler(bundle, device)
returning a batch handler. It is called once at start-up, only when the bundle has every component
in REQUIRES[op]; otherwise the op answers `model_unavailable` naming the missing component.
`ping`, `info` and `cancel` are answered by the I/O loop itself (engine/server.py), never queued.
"""

from __future__ import annotations

import importlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from engine.bundle import Bundle
from engine.errors import EngineError, InputError, ModelUnavailableError

Outcome = tuple[dict, dict]
Handler = Callable[[list["Job"]], list]

# Bone-frames of rig forward kinematics per chunk in rig_to_canonical (72 bytes each: ~36 MB).
FK_BONE_FRAMES = 500_000
# Components each model operation needs from the bundle.
REQUIRES: dict[str, tuple[str, ...]] = {
    "text_to_motion": ("tokenizer", "language_model"),
    "motion_to_text": ("tokenizer", "language_model"),
    "predict": ("tokenizer", "language_model"),
    "inbetween": ("tokenizer", "language_model"),
    "edit_pose": ("pose_editor",),
    "describe_change:model": ("correction_writer",),
}
# op -> factory(bundle, device) -> batch handler; the lead registers real models here.
MODEL_FACTORIES: dict[str, Callable[[Bundle, str], Handler]] = {}


class JobCancelled(EngineError):
    code = "cancelled"


@dataclass
class Job:
    """One validated request on its way through a worker. Arrays are read-only views."""

    identity: bytes  # ZeroMQ routing id of the client (scopes cancel to its owner)
    request_id: str
    op: str
    args: dict
    arrays: dict[str, np.ndarray]
    received: float = field(default_factory=time.monotonic)
    cancel_event: threading.Event = field(default_factory=threading.Event)
    progress_sink: Callable[[Job, float, str], None] | None = None

    @property
    def nbytes(self) -> int:
        return sum(array.nbytes for array in self.arrays.values())

    def progress(self, fraction: float, message: str = "") -> None:
        """Send a `progress` reply (fraction in [0, 1]) to the client."""
        if self.progress_sink is not None:
            self.progress_sink(self, fraction, message)

    def cancelled(self) -> bool:
        return self.cancel_event.is_set()

    def check_cancelled(self) -> None:
        if self.cancel_event.is_set():
            raise JobCancelled(f"request {self.request_id} was cancelled by the client")


def single(fn: Callable[[Job], Outcome]) -> Handler:
    """Adapt a one-job function to the batch signature, keeping per-job errors apart."""

    def handler(jobs: list[Job]) -> list:
        outcomes: list = []
        for job in jobs:
            try:
                outcomes.append(fn(job))
            except Exception as error:  # noqa: BLE001 - reported per job by the worker
                outcomes.append(error)
        return outcomes

    handler.__name__ = getattr(fn, "__name__", "handler")
    return handler


def unavailable(message: str) -> Handler:
    def handler(jobs: list[Job]) -> list:
        return [ModelUnavailableError(message) for _ in jobs]

    handler.unavailable = message  # type: ignore[attr-defined]
    return handler


# ----------------------------------------------------------------------------- rule-based ops


def _import(module: str, what: str, build: str) -> object:
    """Import a parallel-developed engine module lazily: its absence turns one op off, no more."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise ModelUnavailableError(
            f"{what} ({module}) is not installed in this engine build; update motion-copilot to a "
            f"version that includes {build}."
        ) from None


def _describe_batch(jobs: list[Job], single_fn: Callable, batch_fn: Callable, names: tuple[str, ...]) -> list:
    """Rule-based descriptions; unseeded jobs with the same `deterministic` flag share one call.

    A seeded job runs alone so that its text never depends on what it was batched with.
    """
    outcomes: dict[int, object] = {}
    groups: dict[bool, list[int]] = {}
    for index, job in enumerate(jobs):
        if job.args.get("seed") is None:
            groups.setdefault(bool(job.args.get("deterministic", False)), []).append(index)
            continue
        try:
            text = single_fn(
                *(np.asarray(job.arrays[n], np.float64) for n in names),
                seed=job.args["seed"],
                deterministic=job.args.get("deterministic", False),
            )
            outcomes[index] = ({"text": text}, {})
        except Exception as error:  # noqa: BLE001 - per-job error
            outcomes[index] = error
    for deterministic, indices in groups.items():
        stacks = [np.stack([np.asarray(jobs[i].arrays[n], np.float64) for i in indices]) for n in names]
        try:
            texts = batch_fn(*stacks, seed=None, deterministic=deterministic)
            outcomes.update({i: ({"text": t}, {}) for i, t in zip(indices, texts)})
        except Exception as error:  # noqa: BLE001 - the whole group failed the same way
            outcomes.update({i: error for i in indices})
    return [outcomes[i] for i in range(len(jobs))]


def describe_pose(jobs: list[Job]) -> list:
    module = _import("engine.describe", "the rule-based pose describer", "engine/describe")
    return _describe_batch(jobs, module.describe_pose, module.describe_poses, ("pose",))


def describe_change_rules(jobs: list[Job]) -> list:
    module = _import("engine.describe", "the rule-based change describer", "engine/describe")
    return _describe_batch(jobs, module.describe_change, module.describe_changes, ("pose_a", "pose_b"))


def _rig_and_map(job: Job) -> tuple:
    """(RigDescription, JointMap or None, retarget module) of a job carrying a rig description.

    `preset`/`mapping` args override the rig header's own choice, normalised like engine.rig
    ("auto"/"custom"/"" = detect); None means the header's choice.
    """
    description = _import("engine.rig.description", "the rig description reader", "engine/rig")
    rig_retarget = _import("engine.rig.retarget", "retargeting", "engine/rig/retarget.py")
    name_maps = _import("engine.rig.name_maps", "the rig name maps", "engine/rig/name_maps.py")
    rig = description.RigDescription.from_wire(job.args["rig"], job.arrays)
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
    place = _import("engine.rig.placement", "rig placement", "engine/rig/placement.py")
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
    place = _import("engine.rig.placement", "rig placement", "engine/rig/placement.py")
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


# ----------------------------------------------------------------------------- test ops


def sleep(job: Job) -> Outcome:
    """A slow job for tests: `steps` progress messages over `seconds`, cancellable at each step."""
    seconds, steps = float(job.args["seconds"]), int(job.args.get("steps", 10))
    for step in range(steps):
        job.check_cancelled()
        job.cancel_event.wait(seconds / steps)  # wakes at once on cancel
        job.progress((step + 1) / steps, f"step {step + 1} of {steps}")
    job.check_cancelled()
    return {"slept": seconds}, {}


def synthetic_forward(jobs: list[Job]) -> list:
    """Mimics a model forward on an accelerator: a fixed cost per call plus a cost per item.

    It sleeps (it does not burn CPU), like a GPU kernel the host waits on; the costs come from the
    first job's args (defaults 20 ms per call, 1 ms per item).
    """
    fixed_ms = float(jobs[0].args.get("fixed_ms", 20.0))
    item_ms = float(jobs[0].args.get("item_ms", 1.0))
    time.sleep((fixed_ms + item_ms * len(jobs)) / 1000.0)
    return [
        ({"batch_size": len(jobs)}, {"y": np.asarray(job.arrays["x"]) * 2} if "x" in job.arrays else {}) for job in jobs
    ]


# ----------------------------------------------------------------------------- the table


@dataclass(frozen=True)
class Operation:
    handler: Handler
    batchable: bool
    unavailable: str | None = None  # why the op is off, for `info`


def _model_handler(op: str, bundle: Bundle, device: str, requires: tuple[str, ...]) -> Handler:
    for component in requires:
        if not bundle.has(component):
            return unavailable(bundle.missing_message(component, op))
    factory = MODEL_FACTORIES.get(op)
    if factory is None:
        return unavailable(
            f"'{op}' has every bundle component it needs ({', '.join(requires)}) "
            "but this engine build has no runner for it yet; update motion-copilot."
        )
    try:
        return factory(bundle, device)
    except Exception as error:  # noqa: BLE001 - a broken component must not stop start-up
        return unavailable(
            f"loading the model for '{op}' from {bundle.root} failed ({error}); "
            "re-export the bundle with `motion-train all`."
        )


def _describe_change_handler(bundle: Bundle, device: str) -> Handler:
    model = _model_handler("describe_change", bundle, device, REQUIRES["describe_change:model"])
    rules = describe_change_rules

    def handler(jobs: list[Job]) -> list:
        by_model = [job.args.get("method", "rules") == "model" for job in jobs]
        model_out = iter(model([j for j, m in zip(jobs, by_model) if m]) if any(by_model) else [])
        rules_out = iter(rules([j for j, m in zip(jobs, by_model) if not m]) if not all(by_model) else [])
        return [next(model_out) if m else next(rules_out) for m in by_model]

    return handler


def build_operations(
    bundle: Bundle, device: str, enable_test_ops: bool = False, batching: bool = True
) -> dict[str, Operation]:
    """Handlers for every worker operation; `batching=False` hands each job over alone."""
    table: dict[str, tuple[Handler, bool]] = {
        op: (_model_handler(op, bundle, device, REQUIRES[op]), True)
        for op in ("text_to_motion", "motion_to_text", "predict", "inbetween", "edit_pose")
    }
    table["describe_pose"] = (describe_pose, True)
    table["describe_change"] = (_describe_change_handler(bundle, device), True)
    table["retarget"] = (single(retarget), False)
    table["rig_to_canonical"] = (single(rig_to_canonical), False)
    if enable_test_ops:
        table["sleep"] = (single(sleep), False)
        table["synthetic_forward"] = (synthetic_forward, True)
    return {
        op: Operation(handler, batchable and batching, getattr(handler, "unavailable", None))
        for op, (handler, batchable) in table.items()
    }
