"""T5 span corruption: the unsupervised objective of the motion-language model's pretraining.

`random_spans_noise_mask` is T5's algorithm (google-research/text-to-text-transfer-transformer
`preprocessors.random_spans_noise_mask`, as ported to numpy in Hugging Face's
examples/flax/language-modeling/run_t5_mlm_flax.py): the number of noise tokens is
round(length x density); noise and non-noise tokens are each cut into the same number of spans by a
random segmentation, and the spans are interleaved starting with non-noise. Written here over a
numpy Generator (not the global RNG) so that data-parallel ranks and resumed runs are seeded.

Inputs keep the non-noise tokens with each noise span replaced by one sentinel (`<extra_id_i>`);
targets list each sentinel followed by the tokens it hides; both end with `</s>`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

NOISE_DENSITY = (
    0.15  # T5 and MotionGPT (Jiang et al. 2023; github.com/OpenMotionLab/MotionGPT, `random_spans_noise_mask`)
)
MEAN_NOISE_SPAN = 3.0


def _random_segmentation(items: int, segments: int, rng: np.random.Generator) -> np.ndarray:
    """Lengths of `segments` non-empty segments that together hold `items` items, random cut points."""
    first_in_segment = np.zeros(items, dtype=bool)
    first_in_segment[1 + rng.permutation(items - 1)[: segments - 1]] = True
    first_in_segment[0] = True
    return np.diff(np.append(np.flatnonzero(first_in_segment), items))


def random_spans_noise_mask(
    length: int,
    rng: np.random.Generator,
    noise_density: float = NOISE_DENSITY,
    mean_noise_span_length: float = MEAN_NOISE_SPAN,
) -> np.ndarray:
    """`(length,)` bool, True on noise tokens: about `noise_density` of them, in spans of mean length
    `mean_noise_span_length`, never all or none (length >= 2)."""
    if length < 2:
        raise ValueError(f"span corruption needs at least 2 tokens, got {length}")
    noise = min(max(int(round(length * noise_density)), 1), length - 1)
    spans = max(1, min(int(round(noise / mean_noise_span_length)), length - noise))
    noise_lengths = _random_segmentation(noise, spans, rng)
    keep_lengths = _random_segmentation(length - noise, spans, rng)
    interleaved = np.stack([keep_lengths, noise_lengths], axis=1).reshape(-1)
    span_starts = np.cumsum(interleaved)[:-1]
    indicator = np.zeros(length, dtype=np.int64)
    indicator[span_starts] = 1
    return np.cumsum(indicator) % 2 == 1


def corrupt_spans(
    token_ids: Sequence[int],
    sentinels: Sequence[int],
    eos_id: int,
    rng: np.random.Generator,
    noise_density: float = NOISE_DENSITY,
    mean_noise_span_length: float = MEAN_NOISE_SPAN,
) -> tuple[list[int], list[int]]:
    """(inputs, targets) token ids for one sequence (given without `</s>`).

    Spans beyond the number of sentinels are left uncorrupted (never happens at T5 lengths).
    """
    tokens = list(token_ids)
    mask = random_spans_noise_mask(len(tokens), rng, noise_density, mean_noise_span_length)
    inputs, targets, span = [], [], -1
    for position, (token, noisy) in enumerate(zip(tokens, mask)):
        starts = noisy and (position == 0 or not mask[position - 1])
        if starts:
            span += 1
        if noisy and span < len(sentinels):
            if starts:
                inputs.append(sentinels[span])
                targets.append(sentinels[span])
            targets.append(token)
        else:
            inputs.append(token)
    return inputs + [eos_id], targets + [eos_id]
