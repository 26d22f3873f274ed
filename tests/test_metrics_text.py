"""BLEU, ROUGE-L and CIDEr-D against values computed by hand (trainer/evaluate/text_metrics.py)."""

from __future__ import annotations

import math

import pytest

from trainer.evaluate.text_metrics import bleu, caption_scores, cider, lcs_length, rouge_l


def test_bleu_by_hand():
    cand, ref = "the cat sat on the mat", "the cat sat on a mat"
    # unigrams: the x2 (ref has 1 -> clipped 1), cat, sat, on, mat -> 5/6
    assert bleu([cand], [[ref]], 1) == pytest.approx(5 / 6)
    # bigrams 3/5 (the cat, cat sat, sat on), trigrams 2/4, 4-grams 1/3 (the cat sat on); BP = 1
    assert bleu([cand], [[ref]], 4) == pytest.approx((5 / 6 * 3 / 5 * 2 / 4 * 1 / 3) ** 0.25)
    # brevity penalty: 2 words vs a 6-word reference -> exp(1 - 6/2) = exp(-2), precision 1
    assert bleu(["the cat"], [["the cat sat on the mat"]], 1) == pytest.approx(math.exp(-2))
    # the closest reference length is used: a 2-word reference removes the penalty
    assert bleu(["the cat"], [["the cat sat on the mat", "a cat"]], 1) == pytest.approx(1.0)
    # no 4-gram match anywhere -> 0 without smoothing
    assert bleu(["the cat is on the mat"], [["the cat sat on the mat"]], 4) == 0.0


def test_corpus_bleu_sums_counts_over_sentences():
    # sentence 1: 2/2 unigrams match, sentence 2: 0/2 -> corpus precision 2/4; lengths equal, BP 1
    assert bleu(["a b", "c d"], [["a b"], ["e f"]], 1) == pytest.approx(0.5)


def test_rouge_l_by_hand():
    assert lcs_length("the cat sat on the mat".split(), "the cat is on the mat".split()) == 5
    # P = R = 5/6 -> F = 5/6 whatever beta
    assert rouge_l(["the cat sat on the mat"], [["the cat is on the mat"]]) == pytest.approx(5 / 6)
    # LCS 2: P = 1, R = 1/3; beta 1.2: (1 + 1.44) * 1 * (1/3) / (1/3 + 1.44 * 1) = 0.45865...
    expected = 2.44 * (1 / 3) / (1 / 3 + 1.44)
    assert rouge_l(["the cat"], [["the cat sat on the mat"]]) == pytest.approx(expected)
    assert rouge_l(["x y"], [["a b"]]) == 0.0


def test_cider_by_hand():
    # Two documents, no n-gram shared between them: every idf is log(2/1) = log 2.
    # A candidate equal to its reference: cosine 1 for n = 1, 2; no 3-, 4-grams -> 0.
    # score = 10 * mean(1, 1, 0, 0) = 5 for each, corpus mean 5.
    assert cider(["a b", "c d"], [["a b"], ["c d"]]) == pytest.approx(5.0)
    # Candidate 1 "a c" vs reference "a b": unigram vectors {a: l, c: l} and {a: l, b: l} (l = log 2);
    # clipped dot l^2, norms sqrt(2) l each -> 0.5; bigrams differ -> 0; equal lengths, no penalty.
    # candidate 1 scores 10 * 0.5 / 4 = 1.25, candidate 2 scores 5 -> mean 3.125
    assert cider(["a c", "c d"], [["a b"], ["c d"]]) == pytest.approx(3.125)


def test_caption_scores_scale_and_errors():
    scores = caption_scores(["a person walks forward"], [["a person walks forward"]])
    assert scores["BLEU-1"] == pytest.approx(100.0) and scores["BLEU-4"] == pytest.approx(100.0)
    assert scores["ROUGE-L"] == pytest.approx(100.0)
    with pytest.raises(ValueError):
        bleu(["a"], [])
