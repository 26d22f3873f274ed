"""The motion-language model's tasks, chained with the motion tokenizer: the one engine API for
text-to-motion, motion-to-text, prediction and in-between (the server's ops, the CLI commands, the
benchmarks and the trainer's evaluation all call these functions).

    lm, vq = Models(bundle).language()                       # engine.bundle
    (walk,) = generate(lm, vq, ["a person walks forward"], [80], Sampling(seed=0))   # (80, 22, 3)
    (text,) = caption(lm, vq, [walk])
    new = continue_motion(lm, vq, walk, 40)                   # the 40 frames after walk[-1]
    gap = fill_gap(lm, vq, walk[:20], walk[60:], 39)          # the 39 frames between walk[19] and walk[60]

Motions are joint positions `(T, 22, 3)` float32, metres, Y up, 20 fps (the canonical skeleton).
Motion inputs go joints -> HumanML3D features -> normalised -> codes (`motion_codes`); outputs go codes
-> features -> joints (`codes_to_joints`, HumanML3D's recover_from_ric). One motion code covers 4
frames; every task returns exactly the frames asked for:

- generate (text_to_motion): `frames` frames (ceil(frames / 4) codes are made and the surplus cut);
  frame 0 at the origin facing +Z (retarget with the rig's placement, or none).
- continue_motion (predict): ONLY the new frames, the first one 1/20 s after the prefix's last frame,
  in the prefix's own world placement (heading and position continue from the prefix).
- fill_gap (inbetween): ONLY the frames strictly between `start[-1]` and `end[0]`, in the inputs'
  placement, with both seams blended shut. A context shorter than the 5 frames one motion code needs
  (the add-on sends one pose each side) is held still to 5 frames.
- caption (motion_to_text): one sentence per motion; greedy unless the sampling samples.

Motion leaves generate / continue_motion / fill_gap cleaned (engine.motion.cleanup; `clean=False`
gives the decoded joints): constant bone lengths (the canonical skeleton for generate, the given
motion's for the other two) and feet planted while in contact, the given frames beside a seam held.

The prompts are the ones the pretrain stage trains on (trainer/stages/pretrain.py imports PROMPTS),
and each also appears among the instruction templates (trainer/data/templates). Seeds follow the
rule of engine/jobs.py: `Sampling(seed=...)` makes a call's draws depend on the seed alone.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from engine.errors import EngineError, InputError
from engine.motion.cleanup import bone_lengths_of, clean_motion
from engine.motion.features import features_to_joints, joints_to_features
from engine.motion.heading import heading_angle, turn_about_y

if TYPE_CHECKING:
    from engine.models.motion_lm import MotionLM, Sampling
    from engine.models.tokenizer import MotionTokenizer

PROMPTS = {
    "t2m": "Text to motion: {caption}",
    "m2t": "Motion to text: {motion}",
    "predict": "Motion prediction: {motion}",
    "inbetween": "Complete the masked motion: {motion}",
    "random": "Generate a random motion.",
    "t2l": "Predict the number of frames for: {caption}",
}
MIN_CONTEXT_FRAMES = 5  # one motion code (4 frames) needs 5 joint frames: features are frame pairs
SEAM_FRAMES = 20  # given frames beside a seam that the clean-up sees (held as they are) for planted feet
SEAM_BLEND_FRAMES = 10  # a continuation's pose mismatch at the seam fades out over 0.5 s


class GenerationError(EngineError):
    """The model's answer is shorter than asked for (e.g. an untrained model stopping early)."""

    code = "generation_failed"


# ----------------------------------------------------------------------------- requests -> model inputs


def sampling_of(args: dict, greedy: bool = False) -> Sampling:
    """A Sampling from request args (seed, temperature, top_k, top_p); greedy when asked."""
    from engine.models.motion_lm import Sampling  # noqa: PLC0415 - imports torch (~1.7 s), off the server's start-up

    if greedy or args.get("temperature") == 0:  # temperature 0 is the limit of sampling: greedy
        return Sampling(do_sample=False, seed=args.get("seed"))
    return Sampling(
        temperature=float(args.get("temperature", 1.0)),
        top_k=int(args.get("top_k", 50)),
        top_p=float(args.get("top_p", 1.0)),
        seed=args.get("seed"),
    )


def check_text(text: object) -> str:
    """The stripped text of a text-to-motion request; InputError when it is not a non-empty string."""
    if not isinstance(text, str) or not text.strip():
        raise InputError("text must be a non-empty string describing the motion")
    return text.strip()


def check_motion(motion: np.ndarray, what: str) -> np.ndarray:
    """`motion` as float32 `(T, 22, 3)` with T >= 1 and finite values, else InputError."""
    array = np.asarray(motion, dtype=np.float32)
    if array.ndim != 3 or array.shape[1:] != (22, 3) or len(array) == 0 or not np.isfinite(array).all():
        raise InputError(
            f"{what} must be finite joint positions of shape (T, 22, 3) with T >= 1, got shape {array.shape}"
        )
    return array


def codes_for(lm: MotionLM, frames: int, what: str) -> int:
    """Motion codes that cover `frames` frames; InputError when the model cannot make that many."""
    unit, most = lm.config.downsample, lm.config.max_motion_codes
    codes = math.ceil(frames / unit)
    if codes > most:
        raise InputError(
            f"{what}: {frames} frames is longer than this model makes ({most * unit} frames, "
            f"{most * unit / lm.config.fps:g} s); ask for fewer frames"
        )
    return codes


# ----------------------------------------------------------------------------- tokenizer round trip


def feature_codes(tokenizer: MotionTokenizer, features: np.ndarray) -> list[int]:
    """Raw HumanML3D features `(T, 263)` -> motion codes `(T // 4,)` (the tail that fills no code is dropped)."""
    import torch  # noqa: PLC0415 - torch costs ~1.7 s; this module is on the server's start-up path

    unit = tokenizer.config.downsample
    clip = np.asarray(features, np.float32)[: len(features) // unit * unit]
    with torch.no_grad():
        normalised = tokenizer.normalize(torch.from_numpy(clip).to(tokenizer.mean.device))[None]
        ids, _ = tokenizer.encode(normalised)
    return [int(i) for i in ids[0].tolist()]


def motion_codes(tokenizer: MotionTokenizer, joints: np.ndarray, what: str = "motion") -> list[int]:
    """Joints `(T, 22, 3)` -> motion codes `(floor((T-1)/4),)` through HumanML3D features."""
    array = check_motion(joints, what)
    unit = tokenizer.config.downsample
    if len(array) < unit + 1:
        raise InputError(f"{what} has {len(array)} frames; at least {unit + 1} are needed for one motion code")
    return feature_codes(tokenizer, joints_to_features(array))  # (T-1, 263): features are computed on frame pairs


def codes_to_features(tokenizer: MotionTokenizer, codes: Sequence[int]) -> np.ndarray:
    """Motion codes `(L,)` -> raw HumanML3D features `(4 L, 263)` float32."""
    import torch  # noqa: PLC0415 - torch costs ~1.7 s; this module is on the server's start-up path

    with torch.no_grad():
        ids = torch.tensor([list(codes)], dtype=torch.long, device=tokenizer.mean.device)
        return tokenizer.denormalize(tokenizer.decode(ids))[0].float().cpu().numpy()


def codes_to_joints(tokenizer: MotionTokenizer, codes: Sequence[int]) -> np.ndarray:
    """Motion codes `(L,)` -> joints `(4 L, 22, 3)` float32 metres, frame 0 at the origin facing +Z."""
    return features_to_joints(codes_to_features(tokenizer, codes)).astype(np.float32)


def _decoded(vq: MotionTokenizer, codes: Sequence[int], needed: int) -> tuple[np.ndarray, np.ndarray]:
    """Codes -> (joints `(4 L, 22, 3)` float32, the model's foot contacts `(4 L, 2, 2)` bool: the
    last 4 feature channels, (left, right) x (ankle, toe), for the clean-up's planted feet)."""
    features = codes_to_features(vq, codes)
    joints = features_to_joints(features).astype(np.float32)
    if len(joints) < needed:
        raise GenerationError(
            f"the model made {len(joints)} frames where {needed} were needed; "
            "it stopped early (is the language model trained?)"
        )
    return joints, features[:, -4:].reshape(-1, 2, 2) > 0.5


# ----------------------------------------------------------------------------- placement helpers


def align(motion: np.ndarray, source: np.ndarray, target: np.ndarray) -> np.ndarray:
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


def _context(motion: np.ndarray, codes: int, unit: int, keep_end: bool) -> np.ndarray:
    """The `codes * unit + 1` frames of `motion` nearest the gap (its end, or its start)."""
    span = codes * unit + 1
    return motion[-span:] if keep_end else motion[:span]


def _resample(motion: np.ndarray, count: int) -> np.ndarray:
    """`(T, 22, 3)` spanning times 0..1 -> `count` evenly spaced frames over the same span (linear)."""
    source = np.linspace(0.0, 1.0, len(motion))
    target = np.linspace(0.0, 1.0, count)
    flat = motion.reshape(len(motion), -1)
    return np.stack([np.interp(target, source, flat[:, k]) for k in range(flat.shape[1])], 1).reshape(count, 22, 3)


# ----------------------------------------------------------------------------- the tasks


def generate_codes(
    lm: MotionLM, texts: Sequence[str], lengths: Sequence[int | None] | None, sampling: Sampling | None = None
) -> list[list[int]]:
    """Text -> motion codes, one model call: `lengths` in codes per text (None: the model decides).

    A model with a text prefix (engine.models.text_prefix) also reads each text through the frozen
    sentence encoder; with `caption_in_prompt` False, through it alone (the prompt keeps its task words).
    Raises NoMotionError (engine.models.motion_vocab) naming a prompt that produced no motion.
    """
    texts = [check_text(text) for text in texts]
    words = lm.config.caption_in_prompt or lm.text_prefix is None
    prompts = [PROMPTS["t2m"].format(caption=text if words else "").strip() for text in texts]
    conditions = texts if lm.text_prefix is not None else None
    return lm.generate_motion(prompts, None if lengths is None else list(lengths), sampling, conditions)


def generate(
    lm: MotionLM,
    vq: MotionTokenizer,
    texts: Sequence[str],
    frames: Sequence[int | None],
    sampling: Sampling | None = None,
    clean: bool = True,
) -> list[np.ndarray]:
    """Text -> motions `(frames_i, 22, 3)` float32 (frame 0 at the origin facing +Z), one model call;
    `frames_i` None lets the model pick the length (a multiple of 4). `clean` puts each motion on
    the canonical skeleton with planted feet (engine.motion.cleanup); False: as decoded."""
    lengths = [None if f is None else codes_for(lm, int(f), "text_to_motion") for f in frames]
    out = []
    for codes, wanted in zip(generate_codes(lm, texts, lengths, sampling), frames):
        joints, contacts = _decoded(vq, codes, 1 if wanted is None else int(wanted))
        cut = len(joints) if wanted is None else int(wanted)
        joints = clean_motion(joints[:cut], hint=contacts[:cut]) if clean else joints[:cut]
        out.append(np.ascontiguousarray(joints, np.float32))
    return out


def caption_codes(lm: MotionLM, codes: Sequence[Sequence[int]], sampling: Sampling | None = None) -> list[str]:
    """Motion codes -> one caption each, one model call (greedy unless `sampling` samples); each
    motion is cut to the model's longest."""
    most = lm.config.max_motion_codes
    prompts = [PROMPTS["m2t"].format(motion=lm.vocab.serialize(list(c)[:most])) for c in codes]
    return lm.generate_text(prompts, sampling)


def caption(
    lm: MotionLM, vq: MotionTokenizer, motions: Sequence[np.ndarray], sampling: Sampling | None = None
) -> list[str]:
    """Motions `(T_i, 22, 3)` (T_i >= 1: a short one is held still) -> one caption each, one model call."""
    codes = [
        motion_codes(vq, _hold(check_motion(motion, f"motion {index}"), MIN_CONTEXT_FRAMES, at_start=False))
        for index, motion in enumerate(motions)
    ]
    return caption_codes(lm, codes, sampling)


def continue_motion(
    lm: MotionLM,
    vq: MotionTokenizer,
    prefix: np.ndarray,
    frames: int,
    sampling: Sampling | None = None,
    clean: bool = True,
) -> np.ndarray:
    """The `frames` frames `(frames, 22, 3)` float32 that follow `prefix` `(T, 22, 3)`, in its placement.

    The prefix's last frames (as many as fit beside the new codes) are encoded; the model writes the
    new codes; the decoded motion is turned and moved so that its last prefix frame lies on the
    prefix's, its miss of the prefix's last pose is blended out (`_seam_offset`), and the frames after
    the prefix's last one are returned.
    """
    unit, most = lm.config.downsample, lm.config.max_motion_codes
    prefix = _hold(check_motion(prefix, "the motion to continue"), MIN_CONTEXT_FRAMES, at_start=True)
    if int(frames) < 1:
        raise InputError(f"predict: frames must be at least 1, got {frames}")
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
    joints, contacts = _decoded(vq, head + tail, seam + 1 + frames)
    placed = align(joints, joints[seam - 1], context[-2].astype(np.float64))
    new_frames = placed[seam + 1 : seam + 1 + frames] + _seam_offset(prefix[-1], placed[seam], frames)
    if clean:
        given = prefix[-SEAM_FRAMES:]
        hint = np.concatenate([np.zeros((len(given), 2, 2), bool), contacts[seam + 1 : seam + 1 + frames]])
        both = np.concatenate([given, new_frames])
        kept = range(len(given))
        new_frames = clean_motion(both, bone_lengths_of(prefix), fixed=kept, hint=hint)[len(given) :]
    return np.ascontiguousarray(new_frames, np.float32)


def _seam_offset(given: np.ndarray, decoded: np.ndarray, frames: int) -> np.ndarray:
    """`(frames, 22, 3)` to add to a continuation so that it starts from the given last pose.

    The decoded pose at the given last frame's time misses it by the tokenizer's error (measured up to
    0.45 m on a hand): left alone, that is a pop at the seam. The root's miss is kept for every new
    frame (the motion goes on from where the body is); the pose's miss relative to the root fades out
    linearly over SEAM_BLEND_FRAMES, as fill_gap blends its ends.
    """
    miss = given.astype(np.float64) - decoded  # (22, 3)
    root, pose = miss[:1], miss - miss[:1]
    fade = np.clip(1.0 - np.arange(1, frames + 1) / (SEAM_BLEND_FRAMES + 1), 0.0, None)[:, None, None]
    return root[None] + fade * pose[None]


def fill_gap(
    lm: MotionLM,
    vq: MotionTokenizer,
    start: np.ndarray,
    end: np.ndarray,
    frames: int,
    sampling: Sampling | None = None,
    clean: bool = True,
) -> np.ndarray:
    """The `frames` frames `(frames, 22, 3)` float32 between `start[-1]` and `end[0]`, in their placement.

    The model fills round((frames + 1) / 4) masked codes between the encoded contexts; the decoded
    gap (start[-1]'s time to end[0]'s) is placed on start, stretched in time to frames + 1 steps, and
    the leftover mismatch of each end pose is blended out linearly, so both seams meet exactly.
    `clean`: then on the given motions' bone lengths with feet planted, the given frames beside
    the gap held as they are (engine.motion.cleanup), so the seams still meet.
    """
    unit, most = lm.config.downsample, lm.config.max_motion_codes
    start = _hold(check_motion(start, "the start motion"), MIN_CONTEXT_FRAMES, at_start=True)
    end = _hold(check_motion(end, "the end motion"), MIN_CONTEXT_FRAMES, at_start=False)
    if int(frames) < 1:
        raise InputError(f"inbetween: frames must be at least 1, got {frames}")
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
    joints, _ = _decoded(vq, head + middle + tail, seam + gap * unit + 1)
    joints = align(joints, joints[seam - 1], before[-2].astype(np.float64))
    span = _resample(joints[seam : seam + gap * unit + 1], frames + 2)  # start[-1] .. end[0]
    weight = np.linspace(0.0, 1.0, frames + 2)[:, None, None]
    span = span + (1 - weight) * (start[-1] - span[0]) + weight * (end[0] - span[-1])
    inner = span[1:-1]
    if clean:
        given_start, given_end = start[-SEAM_FRAMES:], end[:SEAM_FRAMES]
        whole = np.concatenate([given_start, inner, given_end])
        kept = [*range(len(given_start)), *range(len(given_start) + frames, len(whole))]
        lengths = bone_lengths_of(np.concatenate([start, end]))
        inner = clean_motion(whole, lengths, fixed=kept)[len(given_start) : len(given_start) + frames]
    return np.ascontiguousarray(inner, np.float32)
