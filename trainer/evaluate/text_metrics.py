"""Captioning metrics: corpus BLEU-1..4, ROUGE-L and CIDEr-D over generated vs reference texts.

Hand-written on purpose: the usual packages (nltk, pycocoevalcap, nlg-eval, Hugging Face
`evaluate`) are not installed and each pulls in far more than three formulas (pycocoevalcap needs
Java for its tokenizer). The formulas follow the reference implementations so numbers compare:
- BLEU (Papineni et al. 2002; nltk `corpus_bleu` without smoothing): clipped n-gram precisions
  summed over the corpus, geometric mean, brevity penalty with the closest reference length.
- ROUGE-L (pycocoevalcap `rouge.py`): LCS precision/recall, each the max over references,
  F-measure with beta = 1.2, averaged over candidates.
- CIDEr-D (pycocoevalcap `cider_scorer.py`): tf-idf n-gram vectors (n = 1..4), document
  frequencies over the references of the corpus, clipped cosine with a Gaussian length penalty
  (sigma 6), averaged over references and n, times 10.
Tokenisation: lower case, words and digits only (punctuation dropped), the same for all three.

    >>> bleu(["the cat sat"], [["the cat sat on the mat"]], max_order=1)
"""

from __future__ import annotations

import math
import re
from collections import Counter

WORD = re.compile(r"[a-z0-9']+")
ROUGE_BETA = 1.2  # pycocoevalcap Rouge
CIDER_SIGMA = 6.0  # pycocoevalcap CiderD
CIDER_ORDER = 4


def tokenize(text: str) -> list[str]:
    return WORD.findall(text.lower())


def ngrams(words: list[str], n: int) -> Counter:
    return Counter(tuple(words[i : i + n]) for i in range(len(words) - n + 1))


def _check(candidates: list[str], references: list[list[str]]) -> None:
    if len(candidates) != len(references) or not candidates:
        raise ValueError(
            f"need one reference list per candidate; got {len(candidates)} candidates "
            f"and {len(references)} reference lists"
        )
    if any(not refs for refs in references):
        raise ValueError("every candidate needs at least one reference")


def bleu(candidates: list[str], references: list[list[str]], max_order: int = 4) -> float:
    """Corpus BLEU-`max_order` in [0, 1]; 0.0 when some order has no match (no smoothing)."""
    _check(candidates, references)
    matched, total = [0] * max_order, [0] * max_order
    candidate_length = reference_length = 0
    for candidate, refs in zip(candidates, references):
        words = tokenize(candidate)
        ref_words = [tokenize(r) for r in refs]
        candidate_length += len(words)
        # closest reference length, the shorter one on ties (nltk closest_ref_length)
        reference_length += min((abs(len(r) - len(words)), len(r)) for r in ref_words)[1]
        for n in range(1, max_order + 1):
            counts = ngrams(words, n)
            best = Counter()
            for r in ref_words:
                best |= ngrams(r, n)  # max count of each n-gram over the references
            matched[n - 1] += sum(min(c, best[g]) for g, c in counts.items())
            total[n - 1] += sum(counts.values())
    if min(matched) == 0:
        return 0.0
    log_precision = sum(math.log(m / t) for m, t in zip(matched, total)) / max_order
    brevity = 1.0 if candidate_length > reference_length else math.exp(1 - reference_length / max(candidate_length, 1))
    return brevity * math.exp(log_precision)


def lcs_length(a: list[str], b: list[str]) -> int:
    """Length of the longest common subsequence (dynamic programming, O(len a * len b))."""
    previous = [0] * (len(b) + 1)
    for x in a:
        current = [0]
        for j, y in enumerate(b):
            current.append(previous[j] + 1 if x == y else max(previous[j + 1], current[j]))
        previous = current
    return previous[-1]


def rouge_l_sentence(candidate: str, references: list[str], beta: float = ROUGE_BETA) -> float:
    words = tokenize(candidate)
    precisions, recalls = [], []
    for reference in references:
        ref = tokenize(reference)
        common = lcs_length(words, ref)
        precisions.append(common / len(words) if words else 0.0)
        recalls.append(common / len(ref) if ref else 0.0)
    p, r = max(precisions), max(recalls)
    if p == 0 or r == 0:
        return 0.0
    return (1 + beta**2) * p * r / (r + beta**2 * p)


def rouge_l(candidates: list[str], references: list[list[str]], beta: float = ROUGE_BETA) -> float:
    """Mean sentence ROUGE-L F-measure in [0, 1]."""
    _check(candidates, references)
    return sum(rouge_l_sentence(c, r, beta) for c, r in zip(candidates, references)) / len(candidates)


def _tfidf(words: list[str], document_frequency: Counter, log_documents: float) -> tuple[list[dict], list[float], int]:
    vectors, norms = [], []
    for n in range(1, CIDER_ORDER + 1):
        vector = {
            g: c * (log_documents - math.log(max(1.0, document_frequency[g]))) for g, c in ngrams(words, n).items()
        }
        vectors.append(vector)
        norms.append(math.sqrt(sum(v * v for v in vector.values())))
    return vectors, norms, len(words)


def _cider_similarity(candidate, reference, sigma: float) -> list[float]:
    (cand_vectors, cand_norms, cand_len), (ref_vectors, ref_norms, ref_len) = candidate, reference
    penalty = math.exp(-((cand_len - ref_len) ** 2) / (2 * sigma**2))
    scores = []
    for vc, vr, nc, nr in zip(cand_vectors, ref_vectors, cand_norms, ref_norms):
        dot = sum(min(value, vr[g]) * vr[g] for g, value in vc.items() if g in vr)  # CIDEr-D clipping
        scores.append(dot / (nc * nr) * penalty if nc and nr else 0.0)
    return scores


def cider(candidates: list[str], references: list[list[str]], sigma: float = CIDER_SIGMA) -> float:
    """Corpus CIDEr-D (pycocoevalcap scale: a perfect match over a large corpus is near 10)."""
    _check(candidates, references)
    tokenized_refs = [[tokenize(r) for r in refs] for refs in references]
    document_frequency = Counter()
    for refs in tokenized_refs:
        for g in {g for r in refs for n in range(1, CIDER_ORDER + 1) for g in ngrams(r, n)}:
            document_frequency[g] += 1
    log_documents = math.log(float(len(candidates)))
    total = 0.0
    for candidate, refs in zip(candidates, tokenized_refs):
        cand = _tfidf(tokenize(candidate), document_frequency, log_documents)
        per_ref = [_cider_similarity(cand, _tfidf(r, document_frequency, log_documents), sigma) for r in refs]
        total += 10.0 * sum(sum(s) / CIDER_ORDER for s in per_ref) / len(refs)
    return total / len(candidates)


def caption_scores(candidates: list[str], references: list[list[str]]) -> dict[str, float]:
    """BLEU-1, BLEU-4, ROUGE-L (x100, as papers report) and CIDEr (pycocoevalcap scale x100)."""
    return {
        "BLEU-1": 100 * bleu(candidates, references, 1),
        "BLEU-4": 100 * bleu(candidates, references, 4),
        "ROUGE-L": 100 * rouge_l(candidates, references),
        "CIDEr": 100 * cider(candidates, references),
    }
