"""Motion vocabulary of the motion-language model: `<motion_id_k>` tokens, serialisation, parsing.

MotionGPT convention (Jiang et al. 2023; github.com/OpenMotionLab/MotionGPT, `mGPT/archs/mgpt_lm.py`):
with a tokenizer of K codes the text vocabulary
gets K + 3 added tokens `<motion_id_0>` .. `<motion_id_{K+2}>`; ids 0..K-1 are codebook indices,
K = start of motion, K+1 = end of motion, K+2 = mask (the gap of an in-between prompt). A motion is
serialised without spaces as `<motion_id_K><motion_id_a><motion_id_b>...<motion_id_{K+1}>`.

Two id spaces appear here: *codes* (0..K-1, what the motion tokenizer emits) and *token ids* (rows
of the language model's embedding). The added tokens are contiguous, so
token id = `offset + code`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from engine.errors import EngineError, InputError

MOTION_TOKEN = "<motion_id_{}>"
_MOTION_TOKEN_PATTERN = re.compile(r"<motion_id_(\d+)>")


class NoMotionError(EngineError):
    """The language model's output holds no valid motion (no start..end span with codes)."""

    code = "no_motion"


def motion_token_strings(code_num: int) -> list[str]:
    """The K + 3 added token strings, in the order their ids must follow."""
    return [MOTION_TOKEN.format(k) for k in range(code_num + 3)]


@dataclass(frozen=True)
class MotionVocab:
    """Where the motion tokens sit in the language model's vocabulary.

    code_num: K, codebook size of the motion tokenizer. offset: token id of `<motion_id_0>`.
    """

    code_num: int
    offset: int

    @property
    def start_id(self) -> int:
        return self.offset + self.code_num

    @property
    def end_id(self) -> int:
        return self.offset + self.code_num + 1

    @property
    def mask_id(self) -> int:
        return self.offset + self.code_num + 2

    @property
    def stop(self) -> int:
        """One past the last motion token id."""
        return self.offset + self.code_num + 3

    def is_code(self, token_id: int) -> bool:
        return self.offset <= token_id < self.offset + self.code_num

    # --- strings ------------------------------------------------------------------------------
    def check_codes(self, codes: Sequence[int], what: str = "motion codes") -> list[int]:
        codes = [int(c) for c in codes]
        bad = [c for c in codes if not 0 <= c < self.code_num]
        if bad:
            raise InputError(
                f"{what} must lie in [0, {self.code_num}); got {bad[:5]}. "
                "Use codes from the motion tokenizer this model was trained with."
            )
        return codes

    def serialize(self, codes: Sequence[int]) -> str:
        """Codes `(L,)` -> `<motion_id_K>...<motion_id_{K+1}>` (start and end included)."""
        codes = self.check_codes(codes)
        inner = "".join(MOTION_TOKEN.format(c) for c in codes)
        return MOTION_TOKEN.format(self.code_num) + inner + MOTION_TOKEN.format(self.code_num + 1)

    def serialize_masked(self, codes: Sequence[int], start: int, end: int) -> str:
        """The motion with codes [start, end) replaced by one mask token each (in-between input)."""
        codes = self.check_codes(codes)
        if not 0 <= start < end <= len(codes):
            raise InputError(f"mask span [{start}, {end}) must lie inside the {len(codes)} motion codes")
        mask = MOTION_TOKEN.format(self.code_num + 2)
        parts = [MOTION_TOKEN.format(c) for c in codes[:start]] + [mask] * (end - start)
        parts += [MOTION_TOKEN.format(c) for c in codes[end:]]
        return MOTION_TOKEN.format(self.code_num) + "".join(parts) + MOTION_TOKEN.format(self.code_num + 1)

    def parse_text(self, text: str) -> list[int]:
        """Codes of the first start..end span in decoded text (MotionGPT `motion_string_to_token`).

        A span that starts but never ends (generation cut off) keeps the codes it has. Raises
        NoMotionError when there is no start token or no code after it.
        """
        numbers = [int(n) for n in _MOTION_TOKEN_PATTERN.findall(text)]
        return self._first_span(numbers, self.code_num, self.code_num + 1, "text")

    def parse_ids(self, token_ids: Sequence[int]) -> list[int]:
        """Codes of the first start..end span in a sequence of model token ids (same rules)."""
        shifted = [int(t) - self.offset for t in token_ids]
        return self._first_span(shifted, self.code_num, self.code_num + 1, "token ids")

    def _first_span(self, values: list[int], start: int, end: int, what: str) -> list[int]:
        if start not in values:
            raise NoMotionError(
                f"the model produced no motion (no start-of-motion token in its {what}); "
                "sample again with another seed or use a model trained for this task"
            )
        codes = []
        for value in values[values.index(start) + 1 :]:
            if value == end:
                break
            if 0 <= value < self.code_num:
                codes.append(value)
        if not codes:
            raise NoMotionError(
                "the model produced an empty motion (start and end of motion with no "
                "motion codes between); sample again or request a length"
            )
        return codes


def frames_to_tokens(
    frames: int | None = None, seconds: float | None = None, fps: float = 20.0, downsample: int = 4
) -> int | None:
    """Requested length -> number of motion codes (frames / downsample, at least 1); None if neither given."""
    if frames is not None and seconds is not None:
        raise InputError("give the motion length as frames or as seconds, not both")
    if seconds is not None:
        if not seconds > 0:
            raise InputError(f"seconds must be positive, got {seconds}")
        frames = round(seconds * fps)
    if frames is None:
        return None
    if int(frames) < 1:
        raise InputError(f"frames must be a positive number, got {frames}")
    return max(1, int(frames) // downsample)
