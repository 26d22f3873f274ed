"""Constrained decoding for the motion-language model (a `transformers` LogitsProcessor).

Motion outputs are forced into the shape `<start> code * n <end> </s>`: the first generated token
is the start-of-motion token, then only codes 0..K-1, then end of motion and end of sequence. With a
requested length n the end is forced after exactly n codes (so the decoder cannot stop early or run
on; T2M-GPT issue #65 is users fighting exactly that); without one the model may end after at least
one code and is forced to end at `max_codes`. Text outputs never see a motion token.

Passed to `generate(logits_processor=...)`, custom processors run before transformers' temperature,
top-k and top-p warpers (transformers 5 `_get_logits_processor`), so sampling only ever chooses among
allowed tokens.

The fast decoder (engine.models.fast_decode) does not call the processors step by step: `step_masks`
builds the same rules once per request as a small table of additive masks (0 on allowed ids, -inf
elsewhere) and a `(steps, B)` schedule of which mask each row gets at each step; the one rule that
depends on the tokens (a free-length row that has ended its motion may only emit `</s>`) is a
per-row flag. The tokens are the same: the processors keep the allowed scores and -inf the rest,
except the forced end of a full-length motion, which they set to 0.0 where the table keeps the
score; with a single finite score the choice is the same under argmax, temperature, top-k, top-p
and sampling.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from transformers import LogitsProcessor

from engine.models.motion_vocab import MotionVocab


@dataclass
class StepMasks:
    """Additive logit masks of a whole request, built once.

    table: `(P, V)` 0 on allowed ids, -inf elsewhere. schedule: `(steps, B)` long, the table row of
    each batch row at each step. ended: the table row of a row that has emitted `end_id` (None when
    no row needs the flag: its schedule already says so).
    """

    table: torch.Tensor
    schedule: torch.Tensor
    end_id: int = -1
    ended: int | None = None

    def __post_init__(self) -> None:
        # each step's `(B, V)` mask, gathered once (a request is ~50 steps of B x V floats)
        self._rows = F.embedding(self.schedule, self.table).unbind(0)

    def start(self, batch: int) -> torch.Tensor | None:
        """Per-row state of a decode: `(B,)` bool "has ended its motion", or None when not needed."""
        if self.ended is None:
            return None
        return torch.zeros(batch, dtype=torch.bool, device=self.table.device)

    def apply(self, step: int, scores: torch.Tensor, state: torch.Tensor | None) -> torch.Tensor:
        """Mask the `(B, V)` scores of `step` in place and return them."""
        if state is None:
            return scores.add_(self._rows[step])
        rows = torch.where(state, self.ended, self.schedule[step])
        return scores.add_(F.embedding(rows, self.table))

    def update(self, state: torch.Tensor | None, tokens: torch.Tensor) -> None:
        """Record the `(B,)` tokens just chosen."""
        if state is not None:
            state |= tokens == self.end_id


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

    # table rows of step_masks
    START, CODES, CODES_OR_END, END, EOS = range(5)

    def step_masks(self, batch: int, steps: int, vocab_size: int, device: torch.device | str = "cpu") -> StepMasks:
        """The rules of `__call__` for `steps` steps of a `batch`-row decode, as one StepMasks."""
        table = torch.full((5, vocab_size), float("-inf"), device=device)
        codes = slice(self.vocab.offset, self.vocab.offset + self.vocab.code_num)
        table[self.START, self.vocab.start_id] = 0.0
        table[self.CODES, codes] = 0.0
        table[self.CODES_OR_END, codes] = 0.0
        table[self.CODES_OR_END, self.vocab.end_id] = 0.0
        table[self.END, self.vocab.end_id] = 0.0
        table[self.EOS, self.eos_id] = 0.0
        targets = [self.lengths[b] if b < len(self.lengths) else None for b in range(batch)]
        free = torch.tensor([t is None for t in targets])
        limit = torch.tensor([self.max_codes if t is None else t for t in targets])
        step = torch.arange(steps)[:, None]
        emitted = step - 1  # decoder start and <start> precede the codes
        inside = torch.where(free & (emitted >= 1), self.CODES_OR_END, self.CODES)
        after = torch.where(emitted == limit, self.END, self.EOS)
        schedule = torch.where(step == 0, self.START, torch.where(emitted < limit, inside, after))
        return StepMasks(table, schedule.to(device), self.vocab.end_id, self.EOS if bool(free.any()) else None)


class TextOutputConstraint(LogitsProcessor):
    """Forbid every motion token (codes, start, end, mask) in a text output."""

    def __init__(self, vocab: MotionVocab) -> None:
        self.vocab = vocab

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        scores = scores.clone()
        scores[:, self.vocab.offset : self.vocab.stop] = float("-inf")
        return scores

    def step_masks(self, batch: int, steps: int, vocab_size: int, device: torch.device | str = "cpu") -> StepMasks:
        """The same rule for every step and row, as one StepMasks."""
        table = torch.zeros((1, vocab_size), device=device)
        table[0, self.vocab.offset : self.vocab.stop] = float("-inf")
        return StepMasks(table, torch.zeros((steps, batch), dtype=torch.long, device=device))
