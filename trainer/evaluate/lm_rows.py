"""Rows of the motion-language model: text-to-motion and motion-to-text through the bundle's LM and
tokenizer (engine.models.motion_tasks, the engine's own task functions), in the evaluator's feature space.

Generation works on motion codes and decodes them to `(T, 263)` features with the tokenizer, so the
generated motions go through the same evaluator as the real ones (no joints round trip). As in
T2M-GPT, the model decides the length (no ground-truth length is given).
"""

from __future__ import annotations

import numpy as np

from engine.models import motion_tasks as tasks
from engine.models.motion_lm import MotionLM, Sampling
from engine.models.motion_vocab import NoMotionError
from engine.models.tokenizer import MotionTokenizer
from trainer.evaluate import metrics as M
from trainer.evaluate.data import random_crop
from trainer.evaluate.embedding import embed_motions, embed_texts
from trainer.evaluate.rows import MotionContext, Row, summarize
from trainer.evaluate.text_metrics import caption_scores

BATCH = 16
MIN_CODES = 2  # the evaluator's convolutions need at least 8 frames


class LanguageModelTasks:
    """The LM + tokenizer pair, through the engine's task functions (engine.models.motion_tasks), with
    the failures counted (a prompt that yields no motion)."""

    def __init__(self, lm_dir, tokenizer_dir) -> None:
        self.lm = MotionLM.load(lm_dir)
        self.vq = MotionTokenizer.load(tokenizer_dir)
        self.failures = 0

    def text_to_motion(self, texts: list[str], rng: np.random.Generator) -> list[np.ndarray]:
        """One generated `(T, 263)` raw feature array per text (sampling seeded from `rng`)."""
        out = []
        for start in range(0, len(texts), BATCH):
            chunk = texts[start : start + BATCH]
            sampling = Sampling(seed=int(rng.integers(2**31)))
            try:
                batch = tasks.generate_codes(self.lm, chunk, None, sampling)
            except NoMotionError:
                batch = [self._one(text, sampling) for text in chunk]
            out += [tasks.codes_to_features(self.vq, self._at_least(codes)) for codes in batch]
        return out

    def _one(self, text: str, sampling: Sampling) -> list[int]:
        try:
            return tasks.generate_codes(self.lm, [text], None, sampling)[0]
        except NoMotionError:
            self.failures += 1
            return []

    def _at_least(self, codes: list[int]) -> list[int]:
        # A too-short (or failed, counted in _one) generation is repeated into a still motion and
        # scored as it is, so failures cost the model instead of vanishing from the table.
        return codes if len(codes) >= MIN_CODES else (codes or [0]) * MIN_CODES

    def motion_to_text(self, motions: list[np.ndarray]) -> list[str]:
        """Greedy caption of each raw `(T, 263)` motion."""
        codes = [tasks.feature_codes(self.vq, motion) for motion in motions]
        return [
            text
            for start in range(0, len(codes), BATCH)
            for text in tasks.caption_codes(self.lm, codes[start : start + BATCH])
        ]


def same_captions(captions: list[list[str]]) -> np.ndarray:
    """`(N, N)` bool: motions i and j carry the same caption set (same label, or a mirror twin)."""
    keys = [frozenset(c) for c in captions]
    return np.array([[a == b for b in keys] for a in keys], dtype=bool)


def motion_to_text_row(ctx: MotionContext, name: str, generated: list[str]) -> Row:
    """Generated captions: R-precision and MM-Dist against the motions (hit: a motion with the same
    caption set), and BLEU/ROUGE-L/CIDEr against every real caption of the motion."""
    text_emb = embed_texts(ctx.evaluator, generated)
    matches = same_captions(ctx.data.captions)
    runs = []
    for r in range(ctx.repeats):
        rng = np.random.default_rng(ctx.seed + r)
        motion_emb = embed_motions(ctx.evaluator, [random_crop(m, rng) for m in ctx.data.features])
        scores = M.batched_retrieval(text_emb, motion_emb, rng, matches)
        runs.append({k: scores[k] for k in ("R@1", "R@2", "R@3", "MM-Dist")})
    row = Row(name, summarize(runs), "greedy")
    row.values.update({k: (v, 0.0) for k, v in caption_scores(generated, ctx.data.captions).items()})
    return row
