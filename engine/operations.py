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
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from engine import describe
from engine.bundle import Bundle, Models, models_of
from engine.describe.joints import validate_poses
from engine.errors import EngineError, InputError, ModelUnavailableError
from engine.jobs import run_batched, run_each
from engine.models import lm_handlers, posefix_handlers
from engine.rig import description, name_maps
from engine.rig import placement as place
from engine.rig import retarget as rig_retarget

Outcome = tuple[dict, dict]
Handler = Callable[[list["Job"]], list]

# Bone-frames of rig forward kinematics per chunk in rig_to_canonical (72 bytes each: ~36 MB).
FK_BONE_FRAMES = 500_000
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
    # What the client last heard (the server's I/O loop sends a progress heartbeat after silence).
    last_heard: float = field(default_factory=time.monotonic)
    last_fraction: float = 0.0
    last_message: str = ""
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
