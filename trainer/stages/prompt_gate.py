"""Build the bundle's `prompt_gate/` component (engine/models/prompt_gate.py): representative training
captions, their MiniLM embeddings and a refusal threshold chosen on a separate dev set of prompts.

    motion-train prompt-gate --out engine/assets/default_bundle/prompt_gate

1. Every caption verb phrase the default bundle's language model was trained on: the Bandai dataset-2
   captions (trainer/data/bandai.py: content phrase x style adverbial), the Bandai dataset-1 ones
   (trainer/data/bandai1.py: content phrase x style adverbial, and the bare content phrase its styled
   subjects take, "a thug punches") and the procedural ones
   (trainer/data/procedural/captions.py: each kind's phrases for many draws of the generator's own
   parameter samplers), without subjects (the gate drops the prompt's subject too).
2. All of them are embedded; `count` representatives are kept by greedy k-centre selection
   (Gonzalez 1985, farthest-point first): every dropped phrase stays within the reported cosine
   radius of a kept one, so the shipped list covers the whole caption set at a thousand-odd rows.
   Several counts are tried; the dev set below picks one (its best balanced accuracy).
3. The threshold is chosen on benchmarks/prompts/known_unknown_dev.json (prompts written for this purpose,
   kept apart from the reported set of benchmarks/bench_unknown_prompts.py, which no trainer
   code reads): the cut with the best kernel-smoothed balanced accuracy (choose_threshold).
"""

from __future__ import annotations

import itertools
import json
import logging
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from engine.models.prompt_gate import ENCODER_NAME, PromptGate
from trainer.data import bandai, bandai1
from trainer.data.procedural import PRIMITIVES
from trainer.data.procedural import captions as procedural_captions

logger = logging.getLogger(__name__)

DEV_SET_PATH = Path(__file__).resolve().parents[2] / "benchmarks" / "prompts" / "known_unknown_dev.json"
# Representative counts tried (the dev set picks one): the ~6,300 phrases of both Bandai datasets and the
# procedural kinds need more than the 400 that covered dataset 2 alone (coverage radius 0.29 at 400).
DEFAULT_COUNTS = (400, 600, 800, 1000, 1200)

SAMPLES_PER_KIND = 200  # parameter draws per procedural kind (~3 s per 20 draws of all kinds here)


def procedural_phrases(samples_per_kind: int = SAMPLES_PER_KIND, seed: int = 0) -> set[str]:
    """The verb phrases trainer.data.procedural.captions writes for the generator's own parameter
    draws (each kind's sampler, trainer/data/procedural/generator.py PRIMITIVES, run `samples_per_kind`
    times), so only parameter combinations the training data holds are listed."""
    rng = np.random.default_rng(seed)
    out: set[str] = set()
    for kind, sample in PRIMITIVES.items():
        for _ in range(samples_per_kind):
            _, params = sample(rng)
            out.update(" ".join(p.split()) for p in procedural_captions.phrases(kind, params))
    return out


def bandai_phrases() -> set[str]:
    """Every Bandai caption verb phrase: content phrase + style adverbial (trainer/data/bandai.py)."""
    out = set()
    for verbs, adverbs in itertools.product(bandai.CONTENT_PHRASES.values(), bandai.STYLE_PHRASES.values()):
        out.update(" ".join(f"{v} {a}".split()) for v, a in itertools.product(verbs, adverbs))
    return out


def bandai1_phrases() -> set[str]:
    """Every Bandai dataset-1 caption verb phrase (trainer/data/bandai1.py's own tables): each content
    phrase with each style adverbial, and bare where the style has subjects that carry it ("an old
    person bows"), as bandai1's caption forms put them together."""
    out = set()
    for verbs, (adverbs, styled_subjects) in itertools.product(
        bandai1.CONTENT_PHRASES.values(), bandai1.STYLE_PHRASES.values()
    ):
        endings = adverbs + (("",) if styled_subjects else ())
        out.update(" ".join(f"{v} {a}".split()) for v, a in itertools.product(verbs, endings))
    return out


def training_phrases(samples_per_kind: int = SAMPLES_PER_KIND) -> list[str]:
    """All training caption verb phrases (they have no subject), sorted (deterministic)."""
    return sorted(bandai_phrases() | bandai1_phrases() | procedural_phrases(samples_per_kind))


def k_centres(embeddings: np.ndarray, count: int) -> tuple[list[int], float]:
    """Greedy farthest-point selection of `count` rows of `(N, D)` unit vectors.

    Returns (indices, radius): every row has cosine similarity >= 1 - radius to a chosen row.
    """
    count = min(count, len(embeddings))
    chosen = [int(np.argmax(embeddings @ embeddings.mean(0)))]  # start at the most central phrase
    best = embeddings @ embeddings[chosen[0]]
    while len(chosen) < count:
        far = int(np.argmin(best))
        chosen.append(far)
        best = np.maximum(best, embeddings @ embeddings[far])
    return chosen, float(1.0 - best.min())


def _normal_cdf(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.vectorize(math.erf)(x / math.sqrt(2.0)))


def choose_threshold(known: np.ndarray, unknown: np.ndarray) -> tuple[float, float]:
    """(threshold, balanced accuracy on the dev scores); known prompts should score >= the threshold.

    A dev set of a hundred-odd prompts is small: the best cut of its raw scores sits wherever its
    single highest unknown score happens to fall. So the cut maximises the *smoothed* balanced
    accuracy, each score spread by a Gaussian kernel of Silverman's bandwidth (1.06 sigma n^-1/5,
    per set), i.e. the mean of P(known >= cut) and P(unknown < cut) under kernel density estimates.
    """
    known, unknown = np.asarray(known, np.float64), np.asarray(unknown, np.float64)
    grid = np.linspace(min(known.min(), unknown.min()), max(known.max(), unknown.max()), 2001)

    def bandwidth(x: np.ndarray) -> float:
        return max(1.06 * float(x.std()) * len(x) ** -0.2, 1e-3)

    hk, hu = bandwidth(known), bandwidth(unknown)
    known_right = _normal_cdf((known[None, :] - grid[:, None]) / hk).mean(1)
    unknown_right = _normal_cdf((grid[:, None] - unknown[None, :]) / hu).mean(1)
    threshold = float(grid[int(np.argmax(known_right + unknown_right))])
    accuracy = ((known >= threshold).mean() + (unknown < threshold).mean()) / 2
    return threshold, float(accuracy)


def load_dev_set(path: str | Path = DEV_SET_PATH) -> tuple[list[str], list[str]]:
    """(known prompts, unknown prompts) of a {"known": [...], "unknown": [...]} JSON file."""
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    return list(data["known"]), list(data["unknown"])


def _gate_on_dev(
    phrases: list[str], embeddings: np.ndarray, count: int, encoder, known: list[str], unknown: list[str]
) -> dict:
    """The gate of `count` k-centre representatives and its threshold chosen on the dev prompts."""
    chosen, radius = k_centres(embeddings, count)
    chosen.sort()
    captions = [phrases[i] for i in chosen]
    kept = embeddings[chosen].astype(np.float16)
    gate = PromptGate(captions, kept, 0.0, encoder)
    known_scores = np.array([v.score for v in gate.judge(known)])
    unknown_scores = np.array([v.score for v in gate.judge(unknown)])
    threshold, accuracy = choose_threshold(known_scores, unknown_scores)
    return {
        "captions": captions,
        "embeddings": kept,
        "radius": radius,
        "threshold": threshold,
        "accuracy": accuracy,
        "known_right": float((known_scores >= threshold).mean()),
        "unknown_right": float((unknown_scores < threshold).mean()),
    }


def build_prompt_gate(
    out_dir: str | Path, counts: int | Sequence[int] = DEFAULT_COUNTS, dev_path: str | Path = DEV_SET_PATH
) -> dict:
    """Write `out_dir/{captions.json, embeddings.npy, config.json}`; returns the config written.

    Each of `counts` is tried (k-centre representatives, threshold chosen on the dev prompts); the one
    with the best dev balanced accuracy is kept, the smaller on a tie. The dev set alone decides both.
    """
    counts = sorted({counts} if isinstance(counts, int) else set(counts))
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    phrases = training_phrases()
    logger.info("embedding %d training caption phrases", len(phrases))
    embedder = PromptGate(["x"], np.zeros((1, 384), np.float32), 0.0)  # only for its encoder
    embeddings = np.concatenate([embedder.embed(phrases[i : i + 256]) for i in range(0, len(phrases), 256)])
    known, unknown = load_dev_set(dev_path)
    best, sweep = None, {}
    for count in counts:
        trial = _gate_on_dev(phrases, embeddings, count, embedder.encoder, known, unknown)
        sweep[str(len(trial["captions"]))] = round(trial["accuracy"], 4)
        logger.info("%d representatives: dev balanced accuracy %.3f", len(trial["captions"]), trial["accuracy"])
        if best is None or trial["accuracy"] > best["accuracy"]:
            best = trial
    captions, kept = best["captions"], best["embeddings"]
    config = {
        "encoder": ENCODER_NAME,
        "threshold": round(best["threshold"], 4),
        "count": len(captions),
        "training_phrases": len(phrases),
        "coverage_radius": round(best["radius"], 4),
        "dev_set": {
            "known": len(known),
            "unknown": len(unknown),
            "known_right": round(best["known_right"], 4),
            "unknown_right": round(best["unknown_right"], 4),
            "balanced_accuracy": round(best["accuracy"], 4),
            "balanced_accuracy_by_count": sweep,
        },
    }
    (out_dir / "captions.json").write_text(json.dumps(captions, indent=0) + "\n", encoding="utf-8")
    np.save(out_dir / "embeddings.npy", kept, allow_pickle=False)
    (out_dir / "config.json").write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    return config
