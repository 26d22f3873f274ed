"""Motion tasks of the motion-language model, chained with the motion tokenizer: text in or joints in,
joints or text out.

    lm, vq = MotionLM.load("bundle/lm"), MotionTokenizer.load("bundle/tokenizer")
    joints = text_to_motion(lm, vq, "a person walks forward", seconds=4.0, sampling=Sampling(seed=0))
    caption = motion_to_text(lm, vq, joints)

Joints are `(T, 22, 3)` float32 metres, Y up, 20 fps (the canonical skeleton). Motion inputs go
joints -> HumanML3D features -> normalised -> codes; outputs go codes -> features -> joints
(`features_to_joints`, HumanML3D's recover_from_ric). One motion code covers 4 frames, so lengths
are rounded down to a multiple of 4. The prompts are the ones the pretrain stage trains on, and
each also appears among the instruction templates (trainer/data/templates).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np
import torch

from engine.errors import EngineError, InputError
from engine.models.motion_lm import MotionLM, Sampling
from engine.models.motion_vocab import frames_to_tokens
from engine.models.tokenizer import MotionTokenizer

PROMPTS = {
    "t2m": "Text to motion: {caption}",
    "m2t": "Motion to text: {motion}",
    "predict": "Motion prediction: {motion}",
    "inbetween": "Complete the masked motion: {motion}",
    "random": "Generate a random motion.",
    "t2l": "Predict the number of frames for: {caption}",
}
_NUMBER = re.compile(r"\d+(?:\.\d+)?")


class NoLengthError(EngineError):
    """The model's answer to a length question holds no number."""

    code = "no_length"


def _check_joints(joints: np.ndarray, what: str) -> np.ndarray:
    array = np.asarray(joints, dtype=np.float32)
    if array.ndim != 3 or array.shape[1:] != (22, 3) or not np.isfinite(array).all():
        raise InputError(f"{what} must be finite joint positions of shape (T, 22, 3), got {array.shape}")
    return array


def motion_codes(tokenizer: MotionTokenizer, joints: np.ndarray, what: str = "motion") -> list[int]:
    """Joints `(T, 22, 3)` -> motion codes `(floor((T-1)/4),)` through HumanML3D features."""
    from engine.motion.features import joints_to_features

    array = _check_joints(joints, what)
    unit = tokenizer.config.downsample
    if len(array) < unit + 1:
        raise InputError(f"{what} has {len(array)} frames; at least {unit + 1} are needed for one motion code")
    features = joints_to_features(array)  # (T-1, 263): features are computed on frame pairs
    features = features[: len(features) // unit * unit]
    normalised = tokenizer.normalize(torch.from_numpy(features).to(tokenizer.mean.device))[None]
    ids, _ = tokenizer.encode(normalised)
    return [int(i) for i in ids[0].tolist()]


def codes_to_joints(tokenizer: MotionTokenizer, codes: Sequence[int]) -> np.ndarray:
    """Motion codes `(L,)` -> joints `(4 L, 22, 3)` float32 metres."""
    from engine.motion.features import features_to_joints

    ids = torch.tensor([list(codes)], dtype=torch.long, device=tokenizer.mean.device)
    features = tokenizer.denormalize(tokenizer.decode(ids))[0]
    return features_to_joints(features.float().cpu().numpy()).astype(np.float32)


def _length(lm: MotionLM, frames: int | None, seconds: float | None) -> int | None:
    return frames_to_tokens(frames, seconds, lm.config.fps, lm.config.downsample)


def text_to_motion_batch(
    lm: MotionLM,
    tokenizer: MotionTokenizer,
    texts: Sequence[str],
    frames: Sequence[int | None] | None = None,
    sampling: Sampling | None = None,
) -> list[np.ndarray]:
    """Batched text-to-motion: one `(T_i, 22, 3)` motion per text; frames per text or None (model decides)."""
    frames = list(frames) if frames is not None else [None] * len(texts)
    lengths = [_length(lm, f, None) for f in frames]
    prompts = [PROMPTS["t2m"].format(caption=text.strip()) for text in texts]
    return [codes_to_joints(tokenizer, c) for c in lm.generate_motion(prompts, lengths, sampling)]


def text_to_motion(
    lm: MotionLM,
    tokenizer: MotionTokenizer,
    text: str,
    frames: int | None = None,
    seconds: float | None = None,
    sampling: Sampling | None = None,
) -> np.ndarray:
    """A motion for `text`: joints `(T, 22, 3)`; T = frames (or seconds x 20) rounded down to a multiple of 4."""
    if not isinstance(text, str) or not text.strip():
        raise InputError("text must be a non-empty string describing the motion")
    length = _length(lm, frames, seconds)
    return text_to_motion_batch(
        lm, tokenizer, [text], [None if length is None else length * lm.config.downsample], sampling
    )[0]


def motion_to_text(
    lm: MotionLM, tokenizer: MotionTokenizer, joints: np.ndarray, sampling: Sampling | None = None
) -> str:
    """A caption of the motion `(T, 22, 3)` (greedy decoding unless `sampling` says otherwise)."""
    codes = motion_codes(tokenizer, joints)[: lm.config.max_motion_codes]
    prompt = PROMPTS["m2t"].format(motion=lm.vocab.serialize(codes))
    return lm.generate_text([prompt], sampling)[0]


def predict(
    lm: MotionLM,
    tokenizer: MotionTokenizer,
    prefix: np.ndarray,
    frames: int | None = None,
    seconds: float | None = None,
    sampling: Sampling | None = None,
) -> np.ndarray:
    """Continue the motion `prefix` `(T, 22, 3)` by `frames` (or seconds); returns the whole motion
    `(4 (L_prefix + L_new), 22, 3)`, the prefix re-decoded through the tokenizer so the seam is smooth."""
    codes = motion_codes(tokenizer, prefix, "prefix")
    length = _length(lm, frames, seconds)
    prompt = PROMPTS["predict"].format(motion=lm.vocab.serialize(codes))
    new = lm.generate_motion([prompt], [length], sampling)[0]
    return codes_to_joints(tokenizer, codes + new)


def inbetween(
    lm: MotionLM,
    tokenizer: MotionTokenizer,
    prefix: np.ndarray,
    suffix: np.ndarray,
    frames: int | None = None,
    seconds: float | None = None,
    sampling: Sampling | None = None,
) -> np.ndarray:
    """Fill `frames` (or seconds) between `prefix` and `suffix` (each `(T, 22, 3)`).

    The model sees `prefix <mask> * n suffix` and writes the whole motion; its middle n codes are
    spliced between the given prefix and suffix codes, so the context is kept exactly as encoded.
    """
    head, tail = motion_codes(tokenizer, prefix, "prefix"), motion_codes(tokenizer, suffix, "suffix")
    gap = _length(lm, frames, seconds)
    if gap is None:
        raise InputError("inbetween needs the length of the gap: give frames or seconds")
    total = len(head) + gap + len(tail)
    if total > lm.config.max_motion_codes:
        raise InputError(
            f"prefix + gap + suffix is {total * lm.config.downsample} frames; this model handles "
            f"{lm.config.max_motion_codes * lm.config.downsample}: shorten the prefix or suffix"
        )
    masked = lm.vocab.serialize_masked(head + [0] * gap + tail, len(head), len(head) + gap)
    whole = lm.generate_motion([PROMPTS["inbetween"].format(motion=masked)], [total], sampling)[0]
    return codes_to_joints(tokenizer, head + whole[len(head) : len(head) + gap] + tail)


def random_motion(
    lm: MotionLM,
    tokenizer: MotionTokenizer,
    frames: int | None = None,
    seconds: float | None = None,
    sampling: Sampling | None = None,
) -> np.ndarray:
    """An unconditioned motion `(T, 22, 3)`; the model picks the length unless one is given."""
    length = _length(lm, frames, seconds)
    return codes_to_joints(tokenizer, lm.generate_motion([PROMPTS["random"]], [length], sampling)[0])


def estimate_length(lm: MotionLM, text: str, sampling: Sampling | None = None) -> int:
    """Frames (20 fps) the model expects a motion described by `text` to last.

    Raises NoLengthError when the answer holds no number.
    """
    if not isinstance(text, str) or not text.strip():
        raise InputError("text must be a non-empty string describing the motion")
    answer = lm.generate_text([PROMPTS["t2l"].format(caption=text.strip())], sampling)[0]
    match = _NUMBER.search(answer)
    if match is None:
        raise NoLengthError(
            f"the model answered {answer!r}, which holds no frame count; "
            "use a model trained with instruction tuning (motion-train instruct)"
        )
    return max(1, int(round(float(match.group()))))
