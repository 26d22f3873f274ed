"""The prompt gate: is a text-to-motion prompt close to anything the model was trained on?

The motion-language model answers every prompt with some motion, also prompts far outside its
training captions ("a person does a cartwheel" came back as a squat). The gate embeds the prompt
with the frozen all-MiniLM-L6-v2 sentence encoder (engine/models/text_encoder.py, mean-pooled and
L2-normalised as sentence-transformers does) and compares it with a compact set of representative
training captions shipped in the bundle's `prompt_gate/` component:

    prompt_gate/
      config.json        {"threshold": float, "encoder": "all-MiniLM-L6-v2", "count": N, ...}
      captions.json      N caption verb phrases without a subject ("waves the left hand wearily")
      embeddings.npy     (N, 384) float16, L2-normalised MiniLM embeddings of those phrases

Score of a prompt: its subject ("a person", "the character", ...) is dropped, it is split into
clauses at the sequence words the training captions join with ("then", "and then", "after that"),
and each clause gets its highest cosine similarity to the captions (of the clause with or without
its subject, whichever is higher); the prompt's score is that of
its least known clause. A score below `threshold` (chosen on a separate dev set of prompts by
`motion-train prompt-gate`, trainer/stages/prompt_gate.py) refuses the prompt with UnknownPromptError,
whose details name the closest captions.
"""

from __future__ import annotations

import json
import logging
import re
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from engine.errors import UnknownPromptError

logger = logging.getLogger(__name__)

ENCODER_NAME = "all-MiniLM-L6-v2"
CLOSEST_COUNT = 3
RECENT_PROMPTS = 1024  # verdicts kept: a few hundred KB at most
DISTINCT = 0.7  # cosine similarity above which two listed captions would say the same thing
SHOWN_SUBJECT = "a person"

# Subjects animators and the training captions put in front of the verb phrase: a pronoun, or an
# optional article, up to two describing words and a person noun ("an exhausted old man").
PERSON_NOUNS = (
    "person", "people", "character", "human", "figure", "someone", "somebody", "man", "woman", "guy", "girl",
    "boy", "kid", "child", "lady", "gentleman", "adult", "player", "actor", "athlete", "soldier", "dancer",
)  # fmt: skip
_SUBJECT = re.compile(
    r"^(?:(?:he|she|they)\s+|(?:(?:a|an|the)\s+)?(?:[\w-]+\s+){0,2}?(?:" + "|".join(PERSON_NOUNS) + r")(?:'s)?\s+)",
    re.IGNORECASE,
)
_CLAUSE_JOIN = re.compile(r"\s*,?\s*\b(?:and then|and after that|after that|then)\b\s*", re.IGNORECASE)


def strip_subject(text: str) -> str:
    """The verb phrase of a caption: whitespace collapsed, a leading subject dropped."""
    text = " ".join(text.strip().rstrip(".!").split())
    stripped = _SUBJECT.sub("", text, count=1)
    return stripped or text


def clauses(text: str) -> list[tuple[str, ...]]:
    """The prompt's clauses, split at 'then' / 'and then' / 'after that', each as its distinct forms
    (subject-less first, then as written): a subject pattern that wrongly eats a verb ("punch the
    man ...") cannot hurt, the clause scores its better form."""
    parts = [p.strip(" ,.!") for p in _CLAUSE_JOIN.split(text) if p.strip(" ,.!")] or [text.strip()]
    return [tuple(dict.fromkeys((strip_subject(p), " ".join(p.split())))) for p in parts]


@dataclass
class GateVerdict:
    """How well a prompt matches the training captions."""

    score: float  # the least known clause's highest cosine similarity to a caption, in [-1, 1]
    known: bool  # score >= threshold
    closest: list[str]  # the captions nearest the least known clause, best first, with a subject
    weakest_clause: str  # the clause that scored `score`


class PromptGate:
    """Representative training captions + their embeddings + a threshold; embeds prompts with MiniLM.

    `encoder` is a FrozenMiniLM-like object with `embed_uncached(texts) -> (B, 384)` torch tensor;
    it is created on first use (the MiniLM package is required: ModelUnavailableError otherwise).
    """

    def __init__(self, captions: list[str], embeddings: np.ndarray, threshold: float, encoder=None) -> None:
        if embeddings.shape != (len(captions), embeddings.shape[1]) or not captions:
            raise ValueError(f"{len(captions)} captions but embeddings of shape {embeddings.shape}")
        self.captions = list(captions)
        self.embeddings = np.asarray(embeddings, np.float32)  # (N, 384), rows L2-normalised
        self.threshold = float(threshold)
        self._encoder = encoder
        self._lock = threading.Lock()  # the server's workers may ask at once: load the encoder once
        self._recent: dict[str, GateVerdict] = {}  # prompt -> verdict, at most RECENT_PROMPTS, oldest first

    @classmethod
    def load(cls, directory: str | Path, encoder=None) -> PromptGate:
        directory = Path(directory)
        config = json.loads((directory / "config.json").read_text(encoding="utf-8"))
        captions = json.loads((directory / "captions.json").read_text(encoding="utf-8"))
        embeddings = np.load(directory / "embeddings.npy", allow_pickle=False)
        if config.get("encoder") != ENCODER_NAME:
            raise ValueError(
                f"{directory}: built with encoder {config.get('encoder')!r}, this engine has {ENCODER_NAME}"
            )
        return cls(captions, embeddings, config["threshold"], encoder)

    @property
    def encoder(self):
        with self._lock:
            if self._encoder is None:
                from engine.models.text_encoder import FrozenMiniLM  # noqa: PLC0415 - imports torch (~1.7 s) on first use only

                self._encoder = FrozenMiniLM(purpose="text_to_motion checks each prompt against what the model can do")
            return self._encoder

    def embed(self, texts: list[str]) -> np.ndarray:
        """`(B, 384)` float32 L2-normalised embeddings of B texts (not cached: prompts are many)."""
        return self.encoder.embed_uncached(list(texts)).numpy().astype(np.float32)

    def judge(self, texts: list[str]) -> list[GateVerdict]:
        """One verdict per prompt; the clauses of all prompts not judged lately are embedded in one
        call (the server judges a whole batch of requests at once; repeated prompts are remembered)."""
        with self._lock:
            verdicts = {t: self._recent[t] for t in texts if t in self._recent}
        new = [t for t in dict.fromkeys(texts) if t not in verdicts]
        if new:
            verdicts.update(zip(new, self._judge(new)))
            with self._lock:
                self._recent.update((t, verdicts[t]) for t in new)
                while len(self._recent) > RECENT_PROMPTS:
                    self._recent.pop(next(iter(self._recent)))  # the oldest first
        return [verdicts[t] for t in texts]

    def _judge(self, texts: list[str]) -> list[GateVerdict]:
        split = [clauses(t) for t in texts]
        flat = [form for parts in split for forms in parts for form in forms]
        similarity = self.embed(flat) @ self.embeddings.T  # (forms, N) cosine similarities
        verdicts, row = [], 0
        for parts in split:
            block = []  # per clause: the similarities of its better-scoring form
            for forms in parts:
                rows = similarity[row : row + len(forms)]
                row += len(forms)
                block.append(rows[int(rows.max(axis=1).argmax())])
            block = np.stack(block)  # (clauses, N)
            best = block.max(axis=1)
            weakest = int(best.argmin())
            score = float(best[weakest])
            verdicts.append(
                GateVerdict(
                    score=score,
                    known=score >= self.threshold,
                    closest=self._closest(block[weakest]),
                    weakest_clause=parts[weakest][0],
                )
            )
        return verdicts

    def _closest(self, similarity: np.ndarray) -> list[str]:
        """The CLOSEST_COUNT nearest captions, each less than DISTINCT similar to those before it
        (three different things it can do, not three wordings of one)."""
        chosen: list[int] = []
        for i in np.argsort(-similarity):
            if all(float(self.embeddings[i] @ self.embeddings[j]) < DISTINCT for j in chosen):
                chosen.append(int(i))
            if len(chosen) == CLOSEST_COUNT:
                break
        return [f"{SHOWN_SUBJECT} {self.captions[i]}" for i in chosen]

    def check(self, text: str) -> GateVerdict:
        """The verdict of one prompt; raises UnknownPromptError when it is not known."""
        (verdict,) = self.judge([text])
        if not verdict.known:
            raise unknown_prompt_error(text, verdict, self.threshold)
        return verdict


def unknown_prompt_error(text: str, verdict: GateVerdict, threshold: float) -> UnknownPromptError:
    """The refusal: a sentence naming the closest things the model can do, and the same as details."""
    listed = "; ".join(f'"{c}"' for c in verdict.closest)
    part = "" if strip_subject(text) == verdict.weakest_clause else f' (its part "{verdict.weakest_clause}")'
    message = (
        f'"{text}"{part} is far from every motion this model was trained on (similarity {verdict.score:.2f}, '
        f"needs {threshold:.2f}); the closest things it can do: {listed}. Rephrase the prompt, or generate "
        "anyway to get whatever motion it produces (`motion-engine generate --anyway`, the request argument "
        "`anyway: true`, or the add-on's 'Generate anyway')."
    )
    details = {
        "closest": list(verdict.closest),
        "score": round(verdict.score, 4),
        "threshold": round(threshold, 4),
        "clause": verdict.weakest_clause,
    }
    return UnknownPromptError(message, details)
