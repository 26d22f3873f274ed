"""Engine handlers of the motion-language model: text_to_motion, motion_to_text, predict, inbetween.

Each `make_*_handler(bundle, device)` is a MODEL_FACTORIES factory (engine/operations.py): it loads the
bundle's `language_model` and `tokenizer` once (shared by the four ops through `load_models`) and
returns a batch handler `handler(jobs) -> [(result, arrays) | Exception]`. The plain functions
(`generate`, `continue_motion`, `fill_gap`, `caption`) are what the command line calls too.

Motions are joint positions `(T, 22, 3)` float32, metres, Y up, 20 fps; every motion reply carries
exactly one such array, `positions`, and `frames` in the result.

- text_to_motion: `frames` frames exactly (codes cover 4 frames: ceil(frames / 4) codes are made and
  the surplus cut); frame 0 at the origin facing +Z (retarget with the rig's placement, or none).
- predict: ONLY the new frames, `frames` of them, the first one 1/20 s after the prefix's last
  frame, in the prefix's own world placement (heading and position continue from the prefix).
- inbetween: ONLY the `frames` frames strictly between `start[-1]` and `end[0]` (which sit one frame
  before and one frame after them), in the inputs' world placement. A context shorter than the
  5 frames one motion code needs (the add-on sends one pose each side) is held still to 5 frames.
- The optional `text` of predict and inbetween is accepted but not used: the trained prompts
  (trainer/data/templates/predict.json, inbetween.json) carry no caption.

Seeds: a seeded request runs alone (torch's global seed is set for the call), so its answer never
depends on batch companions; serve one worker per model (the default) for repeatable seeds.
See docs/model_ops.md for how the add-on should place these replies.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Sequence

import numpy as np

from engine.errors import EngineError, InputError
from engine.motion.heading import heading_angle, turn_about_y

MIN_CONTEXT_FRAMES = 5  # one motion code (4 frames) needs 5 joint frames: features are frame pairs
DEFAULT_FRAMES = None  # text_to_motion without frames: the model picks the length

_LOCK = threading.Lock()
_LOADED: dict[tuple[str, str], tuple] = {}


class GenerationError(EngineError):
    """The model's answer is shorter than asked for (e.g. an untrained model stopping early)."""

    code = "generation_failed"


def load_models(bundle, device: str = "cpu") -> tuple:
    """(MotionLM, MotionTokenizer) of a bundle, loaded once per (bundle root, device)."""
    from engine.models.motion_lm import MotionLM
    from engine.models.tokenizer import MotionTokenizer

    key = (str(bundle.root), device)
    with _LOCK:
        if key not in _LOADED:
            lm = MotionLM.load(bundle.components["language_model"].path, device)
            vq = MotionTokenizer.load(bundle.components["tokenizer"].path, device).eval()
            if lm.vocab.code_num != vq.config.code_num:
                raise InputError(
                    f"bundle {bundle.root}: the language model knows {lm.vocab.code_num} motion "
                    f"codes but the tokenizer has {vq.config.code_num}; export them together"
                )
            _LOADED[key] = (lm, vq)
        return _LOADED[key]


def sampling_of(args: dict, greedy: bool = False):
    """A Sampling from request args (seed, temperature, top_k, top_p); greedy when asked."""
    from engine.models.motion_lm import Sampling

    if greedy or args.get("temperature") == 0:  # temperature 0 is the limit of sampling: greedy
        return Sampling(do_sample=False, seed=args.get("seed"))
    return Sampling(
        temperature=float(args.get("temperature", 1.0)),
        top_k=int(args.get("top_k", 50)),
        top_p=float(args.get("top_p", 1.0)),
        seed=args.get("seed"),
    )


# ----------------------------------------------------------------------------- placement helpers


def _align(motion: np.ndarray, source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Turn `motion` `(T, 22, 3)` about +Y and shift it on the floor so that its pose `source`
    `(22, 3)` gets the heading and pelvis x/z of `target` `(22, 3)`; heights are kept."""
    yaw = float(heading_angle(target[None])[0] - heading_angle(source[None])[0])
    moved = turn_about_y(motion, yaw, pivot=source[0])
    return moved + np.array([target[0, 0] - source[0, 0], 0.0, target[0, 2] - source[0, 2]])


def _hold(motion: np.ndarray, frames: int, at_start: bool) -> np.ndarray:
    """Pad `motion` to at least `frames` frames by holding its first (or last) pose still."""
    missing = frames - len(motion)
    if missing <= 0:
        return motion
    pose = motion[:1] if at_start else motion[-1:]
    held = np.repeat(pose, missing, axis=0)
    return np.concatenate([held, motion] if at_start else [motion, held])


def _check_motion(motion: np.ndarray, what: str) -> np.ndarray:
    array = np.asarray(motion, dtype=np.float32)
    if array.ndim != 3 or array.shape[1:] != (22, 3) or len(array) == 0 or not np.isfinite(array).all():
        raise InputError(
            f"{what} must be finite joint positions of shape (T, 22, 3) with T >= 1, got shape {array.shape}"
        )
    return array


def _codes_for(frames: int, lm, what: str) -> int:
    unit, most = lm.config.downsample, lm.config.max_motion_codes
    codes = math.ceil(frames / unit)
    if codes > most:
        raise InputError(
            f"{what}: {frames} frames is longer than this model makes ({most * unit} frames, "
            f"{most * unit / lm.config.fps:g} s); ask for fewer frames"
        )
    return codes


def _decoded(vq, codes: Sequence[int], needed: int) -> np.ndarray:
    from engine.motion_tasks import codes_to_joints

    joints = codes_to_joints(vq, codes)
    if len(joints) < needed:
        raise GenerationError(
            f"the model made {len(joints)} frames where {needed} were needed; "
            "it stopped early (is the language model trained?)"
        )
    return joints


# ----------------------------------------------------------------------------- the tasks


def generate(lm, vq, texts: Sequence[str], frames: Sequence[int | None], sampling=None) -> list[np.ndarray]:
    """Text -> motions `(frames_i, 22, 3)` float32 (frame 0 at the origin facing +Z), one model call."""
    from engine.motion_tasks import PROMPTS

    for text in texts:
        if not isinstance(text, str) or not text.strip():
            raise InputError("text must be a non-empty string describing the motion")
    lengths = [None if f is None else _codes_for(int(f), lm, "text_to_motion") for f in frames]
    prompts = [PROMPTS["t2m"].format(caption=text.strip()) for text in texts]
    out = []
    for codes, wanted in zip(lm.generate_motion(prompts, lengths, sampling), frames):
        joints = _decoded(vq, codes, 1 if wanted is None else int(wanted))
        out.append(np.ascontiguousarray(joints if wanted is None else joints[: int(wanted)], np.float32))
    return out


def caption(lm, vq, motions: Sequence[np.ndarray], sampling=None) -> list[str]:
    """Motions `(T_i, 22, 3)` -> one caption each (greedy unless `sampling` samples), one model call."""
    from engine.motion_tasks import PROMPTS, motion_codes

    prompts = []
    for index, motion in enumerate(motions):
        motion = _hold(_check_motion(motion, f"motion {index}"), MIN_CONTEXT_FRAMES, at_start=False)
        codes = motion_codes(vq, motion)[: lm.config.max_motion_codes]
        prompts.append(PROMPTS["m2t"].format(motion=lm.vocab.serialize(codes)))
    return lm.generate_text(prompts, sampling)


def _context(motion: np.ndarray, codes: int, unit: int, keep_end: bool) -> np.ndarray:
    """The `codes * unit + 1` frames of `motion` nearest the gap (its end, or its start)."""
    span = codes * unit + 1
    return motion[-span:] if keep_end else motion[:span]


def continue_motion(lm, vq, prefix: np.ndarray, frames: int, sampling=None) -> np.ndarray:
    """The `frames` frames `(frames, 22, 3)` float32 that follow `prefix` `(T, 22, 3)`, in its placement.

    The prefix's last frames (as many as fit beside the new codes) are encoded; the model writes the
    new codes; the decoded motion is turned and moved so that its last prefix frame lies on the
    prefix's, and the frames after the prefix's last one are returned.
    """
    from engine.motion_tasks import PROMPTS, motion_codes

    unit, most = lm.config.downsample, lm.config.max_motion_codes
    prefix = _hold(_check_motion(prefix, "the motion to continue"), MIN_CONTEXT_FRAMES, at_start=True)
    new = math.ceil((frames + 1) / unit)  # the first new frame decoded shares the prefix's last frame's time
    if new >= most:
        raise InputError(
            f"predict: {frames} new frames leave no room for context in this model "
            f"({most * unit} frames in all); ask for at most {(most - 1) * unit - 1}"
        )
    context = _context(prefix, min((len(prefix) - 1) // unit, most - new), unit, keep_end=True)
    head = motion_codes(vq, context, "the motion to continue")
    prompt = PROMPTS["predict"].format(motion=lm.vocab.serialize(head))
    tail = lm.generate_motion([prompt], [new], sampling)[0]
    seam = len(head) * unit  # decoded frame `seam` has the time of context[-1]
    joints = _decoded(vq, head + tail, seam + 1 + frames)
    placed = _align(joints, joints[seam - 1], context[-2].astype(np.float64))
    return np.ascontiguousarray(placed[seam + 1 : seam + 1 + frames], np.float32)


def _resample(motion: np.ndarray, count: int) -> np.ndarray:
    """`(T, 22, 3)` spanning times 0..1 -> `count` evenly spaced frames over the same span (linear)."""
    source = np.linspace(0.0, 1.0, len(motion))
    target = np.linspace(0.0, 1.0, count)
    flat = motion.reshape(len(motion), -1)
    return np.stack([np.interp(target, source, flat[:, k]) for k in range(flat.shape[1])], 1).reshape(count, 22, 3)


def fill_gap(lm, vq, start: np.ndarray, end: np.ndarray, frames: int, sampling=None) -> np.ndarray:
    """The `frames` frames `(frames, 22, 3)` float32 between `start[-1]` and `end[0]`, in their placement.

    The model fills round((frames + 1) / 4) masked codes between the encoded contexts; the decoded
    gap (start[-1]'s time to end[0]'s) is placed on start, stretched in time to frames + 1 steps, and
    the leftover mismatch of each end pose is blended out linearly, so both seams meet exactly.
    """
    from engine.motion_tasks import PROMPTS, motion_codes

    unit, most = lm.config.downsample, lm.config.max_motion_codes
    start = _hold(_check_motion(start, "the start motion"), MIN_CONTEXT_FRAMES, at_start=True)
    end = _hold(_check_motion(end, "the end motion"), MIN_CONTEXT_FRAMES, at_start=False)
    gap = max(1, round((frames + 1) / unit))
    room = most - gap
    if room < 2:
        raise InputError(
            f"inbetween: a gap of {frames} frames leaves no room for the start and end poses in "
            f"this model ({most * unit} frames in all); ask for at most {(most - 2) * unit - 1}"
        )
    head_n = min((len(start) - 1) // unit, max(1, room // 2))
    tail_n = min((len(end) - 1) // unit, room - head_n)
    head_n = min((len(start) - 1) // unit, room - tail_n)  # give back what the end did not use
    before, after = _context(start, head_n, unit, True), _context(end, tail_n, unit, False)
    head, tail = motion_codes(vq, before, "the start motion"), motion_codes(vq, after, "the end motion")
    masked = lm.vocab.serialize_masked(head + [0] * gap + tail, len(head), len(head) + gap)
    whole = lm.generate_motion([PROMPTS["inbetween"].format(motion=masked)], [len(head) + gap + len(tail)], sampling)[0]
    middle = whole[len(head) : len(head) + gap]
    if len(middle) < gap:
        raise GenerationError(f"the model filled {len(middle)} of {gap} masked codes (is it trained?)")
    seam = len(head) * unit
    joints = _decoded(vq, head + middle + tail, seam + gap * unit + 1)
    joints = _align(joints, joints[seam - 1], before[-2].astype(np.float64))
    span = _resample(joints[seam : seam + gap * unit + 1], frames + 2)  # start[-1] .. end[0]
    weight = np.linspace(0.0, 1.0, frames + 2)[:, None, None]
    span = span + (1 - weight) * (start[-1] - span[0]) + weight * (end[0] - span[-1])
    return np.ascontiguousarray(span[1:-1], np.float32)


# ----------------------------------------------------------------------------- batch handlers


def _group_key(job, sampled_args: tuple[str, ...]) -> tuple | None:
    """Jobs with equal sampling share one model call; a seeded job runs alone so that its answer
    never depends on its batch companions."""
    if job.args.get("seed") is not None:
        return None
    return tuple(job.args.get(name) for name in sampled_args)


def _grouped(jobs: list, sampled_args: tuple[str, ...], run_group: Callable[[list], list], label: str) -> list:
    outcomes: dict[int, object] = {}
    groups: dict[object, list[int]] = {}
    for index, job in enumerate(jobs):
        key = _group_key(job, sampled_args)
        groups.setdefault(("alone", index) if key is None else key, []).append(index)
    done = 0
    for indices in groups.values():
        members = [jobs[i] for i in indices]
        try:
            for job in members:
                job.check_cancelled()
                job.progress(done / len(jobs), f"{label}: {len(members)} request(s) in this model call")
            results = run_group(members)
            for i, result in zip(indices, results):
                outcomes[i] = result
        except Exception as error:  # noqa: BLE001 - the group fails together, the batch goes on
            outcomes.update({i: error for i in indices})
        done += len(indices)
    return [outcomes[i] for i in range(len(jobs))]


def _per_job(jobs: list, label: str, work: Callable) -> list:
    outcomes: list = []
    for index, job in enumerate(jobs):
        try:
            job.check_cancelled()
            job.progress(0.05, f"{label}: encoding the context")
            outcomes.append(work(job))
            job.progress(1.0, f"{label}: done")
        except Exception as error:  # noqa: BLE001 - per-job error
            outcomes.append(error)
    return outcomes


def _motion_reply(positions: np.ndarray, **extra) -> tuple[dict, dict]:
    return {"frames": int(len(positions)), "fps": 20.0, **extra}, {"positions": positions}


def make_text_to_motion_handler(bundle, device: str = "cpu"):
    lm, vq = load_models(bundle, device)

    def run_group(members: list) -> list:
        motions = generate(
            lm,
            vq,
            [j.args["text"] for j in members],
            [j.args.get("frames") for j in members],
            sampling_of(members[0].args),
        )
        return [_motion_reply(m) for m in motions]

    return lambda jobs: _grouped(jobs, ("temperature", "top_k", "top_p"), run_group, "text to motion")


def make_motion_to_text_handler(bundle, device: str = "cpu"):
    lm, vq = load_models(bundle, device)

    def run_group(members: list) -> list:
        # Greedy without a seed (the most likely caption); a seed asks for one sampled caption.
        seeded = members[0].args.get("seed") is not None
        texts = caption(lm, vq, [j.arrays["motion"] for j in members], sampling_of(members[0].args, greedy=not seeded))
        return [({"text": text}, {}) for text in texts]

    return lambda jobs: _grouped(jobs, (), run_group, "motion to text")


def make_predict_handler(bundle, device: str = "cpu"):
    lm, vq = load_models(bundle, device)

    def work(job) -> tuple[dict, dict]:
        frames = int(job.args.get("frames", 40))
        return _motion_reply(continue_motion(lm, vq, job.arrays["motion"], frames, sampling_of(job.args)))

    return lambda jobs: _per_job(jobs, "predict", work)


def make_inbetween_handler(bundle, device: str = "cpu"):
    lm, vq = load_models(bundle, device)

    def work(job) -> tuple[dict, dict]:
        return _motion_reply(
            fill_gap(lm, vq, job.arrays["start"], job.arrays["end"], int(job.args["frames"]), sampling_of(job.args))
        )

    return lambda jobs: _per_job(jobs, "inbetween", work)
