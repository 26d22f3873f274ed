"""Constrained decoding for the motion-language model (a `transformers` LogitsProcessor).

Motion outputs are forced into the shape `<start> code * n <end> </s>`: the first generated token
is the start-of-motion token, then only codes 0..K-1, then end of motion and end of sequence. With a
requested length n the end is forced after exactly n codes (so the decoder cannot stop early or run
on; T2M-GPT issue #65 is users fighting exactly that); without one the model may end after at least
one code and is forced to end at `max_codes`. Text outputs never see a motion token.

Passed to `generate(logits_processor=...)`, custom processors run before transformers' temperature,
top-k and top-p warpers (transformers 5 `_get_logits_processor`), so sampling only ever chooses among
allowed tokens.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from transformers import LogitsProcessor

from engine.models.motion_vocab import MotionVocab


class MotionOutputConstraint(LogitsProcessor):
    """Mask logits so each row of a batch emits `<start> codes <end> </s>`.

    lengths: per row the number of codes to emit, or None for "model decides, at most max_codes".
    """

    def __init__(self, vocab: MotionVocab, eos_id: int, lengths: Sequence[int | None], max_codes: int) -> None:
        self.vocab = vocab
        self.eos_id = eos_id
        self.lengths = list(lengths)
        self.max_codes = max_codes

    def _forced(self, row: torch.Tensor) -> int:
        """The id this row must emit next, or -1 when it is inside the motion (codes, maybe end)."""
        generated = row[1:]  # row[0] is the decoder start token
        if generated.numel() == 0:
            return self.vocab.start_id
        if bool((generated == self.vocab.end_id).any()):
            return self.eos_id
        return -1

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        masked = torch.full_like(scores, float("-inf"))
        codes = slice(self.vocab.offset, self.vocab.offset + self.vocab.code_num)
        for b in range(scores.shape[0]):
            forced = self._forced(input_ids[b])
            if forced >= 0:
                masked[b, forced] = scores[b, forced]
                continue
            emitted = input_ids.shape[1] - 2  # decoder start and <start> precede the codes
            target = self.lengths[b] if b < len(self.lengths) else None
            limit = self.max_codes if target is None else target
            if emitted >= limit:
                masked[b, self.vocab.end_id] = 0.0
                continue
            masked[b, codes] = scores[b, codes]
            if target is None and emitted >= 1:
                masked[b, self.vocab.end_id] = scores[b, self.vocab.end_id]
        return masked


class TextOutputConstraint(LogitsProcessor):
    """Forbid every motion token (codes, start, end, mask) in a text output."""

    def __init__(self, vocab: MotionVocab) -> None:
        self.vocab = vocab

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        scores = scores.clone()
        scores[:, self.vocab.offset : self.vocab.stop] = float("-inf")
        return scores
