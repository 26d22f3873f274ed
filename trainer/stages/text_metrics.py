"""BLEU-4 and ROUGE-L for generated correction texts, hand-written because neither `evaluate`,
`sacrebleu` nor `rouge_score` is a dependency and both metrics fit in a page.

Tokens: lower-cased words and punctuation (the same split as engine.models.text_encoder).
BLEU-4: corpus-level, uniform weights, brevity penalty, no smoothing (Papineni et al. 2002; the
HF `evaluate` "bleu" default). ROUGE-L: mean sentence F1 of the longest common subsequence
(Lin 2004; `rouge_score`'s rougeL fmeasure). Both in [0, 1]; PoseFix reports them x 100.
"""
from __future__ import annotations

import math
import re
from collections import Counter

WORDS = re.compile(r"\w+|[^\w\s]+")


def tokenize(text: str) -> list[str]:
    return WORDS.findall(text.lower())


def _ngrams(tokens: list[str], n: int) -> Counter:
    return Counter(tuple(tokens[i:i + n]) for i in range(len(tokens) - n + 1))


def bleu4(hypotheses: list[str], references: list[list[str]]) -> float:
    """Corpus BLEU-4 of hypotheses against one or more references each."""
    matches, totals = [0] * 4, [0] * 4
    hyp_len = ref_len = 0
    for hypothesis, refs in zip(hypotheses, references):
        hyp = tokenize(hypothesis)
        ref_tokens = [tokenize(r) for r in refs]
        hyp_len += len(hyp)
        ref_len += min((abs(len(r) - len(hyp)), len(r)) for r in ref_tokens)[1]
        for n in range(1, 5):
            counts = _ngrams(hyp, n)
            best: Counter = Counter()
            for r in ref_tokens:
                best |= _ngrams(r, n)
            matches[n - 1] += sum(min(c, best[g]) for g, c in counts.items())
            totals[n - 1] += max(0, len(hyp) - n + 1)
    if min(matches) == 0 or hyp_len == 0:
        return 0.0
    log_precision = sum(math.log(m / t) for m, t in zip(matches, totals)) / 4
    brevity = 1.0 if hyp_len > ref_len else math.exp(1 - ref_len / hyp_len)
    return brevity * math.exp(log_precision)


def _lcs(a: list[str], b: list[str]) -> int:
    previous = [0] * (len(b) + 1)
    for x in a:
        current = [0]
        for j, y in enumerate(b):
            current.append(previous[j] + 1 if x == y else max(previous[j + 1], current[j]))
        previous = current
    return previous[-1]


def rouge_l(hypotheses: list[str], references: list[list[str]]) -> float:
    """Mean over pairs of the best ROUGE-L F1 against the references."""
    scores = []
    for hypothesis, refs in zip(hypotheses, references):
        hyp, best = tokenize(hypothesis), 0.0
        for ref in (tokenize(r) for r in refs):
            lcs = _lcs(hyp, ref)
            if lcs:
                precision, recall = lcs / len(hyp), lcs / len(ref)
                best = max(best, 2 * precision * recall / (precision + recall))
        scores.append(best)
    return sum(scores) / len(scores) if scores else 0.0
