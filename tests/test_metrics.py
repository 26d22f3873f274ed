"""Metric implementations against hand-computed cases (trainer/evaluate/metrics.py, plausibility.py)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from engine.errors import InputError
from trainer.evaluate import metrics as M
from trainer.evaluate import plausibility as P


def test_frechet_distance_of_known_gaussians_matches_closed_form():
    # 1-D: N(0, 1) vs N(1, 4): (0-1)^2 + 1 + 4 - 2 sqrt(1*4) = 1 + 5 - 4 = 2
    assert M.frechet_distance(np.zeros(1), np.eye(1), np.ones(1), 4 * np.eye(1)) == pytest.approx(2.0)
    # Diagonal 2-D: mu diff (3, 4) -> 25; traces 1+4 + 9+1 = 15; 2 Tr sqrt(diag(9, 4)) = 2 (3 + 2) = 10
    fd = M.frechet_distance(np.zeros(2), np.diag([1.0, 4.0]), np.array([3.0, 4.0]), np.diag([9.0, 1.0]))
    assert fd == pytest.approx(25 + 15 - 10)


def test_frechet_distance_is_rotation_invariant_and_zero_on_itself():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(5, 5))
    sigma1, sigma2 = a @ a.T + np.eye(5), np.diag(rng.uniform(0.5, 2, 5))
    mu1, mu2 = rng.normal(size=5), rng.normal(size=5)
    q, _ = np.linalg.qr(rng.normal(size=(5, 5)))
    base = M.frechet_distance(mu1, sigma1, mu2, sigma2)
    rotated = M.frechet_distance(q @ mu1, q @ sigma1 @ q.T, q @ mu2, q @ sigma2 @ q.T)
    assert rotated == pytest.approx(base, rel=1e-6)
    assert M.frechet_distance(mu1, sigma1, mu1, sigma1) == pytest.approx(0.0, abs=1e-6)


def test_fid_of_samples_approaches_the_closed_form():
    rng = np.random.default_rng(1)
    x = rng.normal(0.0, 1.0, size=(20000, 2))
    y = rng.normal(0.0, 2.0, size=(20000, 2)) + np.array([1.0, 0.0])
    # per dimension: mean diff^2 (1, 0) + 1 + 4 - 2*2 = 1 each -> 1 + 1 + 1 = 3 in total
    assert M.fid(x, y) == pytest.approx(3.0, abs=0.1)


def test_r_precision_on_constructed_distances():
    # row i's own column sits at rank i+1: R@1 = 1/4, R@2 = 2/4, R@3 = 3/4
    dist = np.array([[0.0, 1, 2, 3], [0.5, 1, 2, 3], [0.1, 0.2, 1, 3], [0.1, 0.2, 0.3, 4]])
    assert M.r_precision(dist, 3).tolist() == [0.25, 0.5, 0.75]
    # if row 3's nearest column (0) holds the same caption, row 3 is a hit at once
    matches = np.eye(4, dtype=bool)
    matches[3, 0] = True
    assert M.r_precision(dist, 3, matches).tolist() == [0.5, 0.75, 1.0]


def test_batched_retrieval_groups_of_32_and_mm_dist():
    rng = np.random.default_rng(0)
    emb = rng.normal(size=(70, 8))
    same = M.batched_retrieval(emb, emb, np.random.default_rng(0))
    assert same["R@1"] == 1.0 and same["MM-Dist"] == pytest.approx(0.0, abs=1e-6)
    shifted = M.batched_retrieval(emb, emb + np.array([3.0] + [0.0] * 7), np.random.default_rng(0))
    assert shifted["MM-Dist"] == pytest.approx(3.0)  # every text is 3 away from its own motion
    with pytest.raises(InputError, match="groups of 32"):
        M.batched_retrieval(emb[:31], emb[:31], rng)


def test_diversity_and_multimodality():
    rng = np.random.default_rng(0)
    emb = rng.normal(size=(400, 4))
    assert M.diversity(np.ones((50, 4)), rng) == 0.0
    # two clusters 10 apart along x: every pair is 0 or 10 apart, so the mean lies strictly between
    clusters = np.concatenate([np.zeros((200, 2)), np.tile([10.0, 0.0], (200, 1))])
    value = M.diversity(clusters, np.random.default_rng(3))
    assert 2.0 < value < 8.0
    assert M.diversity(3 * emb, np.random.default_rng(5)) == pytest.approx(
        3 * M.diversity(emb, np.random.default_rng(5))
    )
    # generations of each text that are identical have multimodality 0; spread ones do not
    assert M.multimodality(np.repeat(emb[:10, None], 5, axis=1), rng) == 0.0
    assert M.multimodality(rng.normal(size=(10, 30, 4)), rng) > 1.0


def test_ade_fde_on_growing_error():
    # one joint, error t (in x) at frame t: prediction scores frames 2..9 of T=10 -> ADE 5.5, FDE 9
    target = np.zeros((10, 1, 3))
    predicted = np.zeros((10, 1, 3))
    predicted[:, 0, 0] = np.arange(10)
    assert M.ade_fde(predicted, target, "prediction") == pytest.approx((5.5, 9.0))
    # in-between scores frames [int(2.5) : 10 - 2] = 2..7 -> ADE 4.5, FDE 7
    assert M.ade_fde(predicted, target, "inbetween") == pytest.approx((4.5, 7.0))


def test_mpjpe_codebook_usage_best_of_n_and_confidence():
    assert M.mpjpe(np.zeros((2, 3, 3)), np.full((2, 3, 3), 2.0)) == pytest.approx(2 * math.sqrt(3))
    usage = M.codebook_usage(np.array([0, 0, 1, 1]), 4)
    assert usage == pytest.approx({"usage": 0.5, "perplexity": 2.0})
    target = np.zeros((1, 2, 3))
    samples = np.zeros((1, 3, 2, 3))
    samples[0, :, :, 0] = np.array([3.0, 1.0, 2.0])[:, None]  # sample errors 3, 1, 2
    assert M.best_of_n_joint_error(samples, target) == pytest.approx({"best": 1.0, "mean": 2.0})
    mean, half = M.mean_confidence([1.0, 3.0])  # std 1 -> 1.96 / sqrt(2)
    assert (mean, half) == pytest.approx((2.0, 1.96 / math.sqrt(2)))


def _standing(frames: int) -> np.ndarray:
    joints = np.zeros((frames, 22, 3))
    joints[:, :, 1] = 0.5  # every joint half a metre up ...
    joints[:, list(P.FOOT_JOINTS), 1] = 0.0  # ... except the feet, on the floor
    return joints


def test_foot_skating_ratio():
    still = _standing(10)
    assert P.foot_skating_ratio(still) == 0.0
    sliding = still.copy()
    sliding[:, :, 0] = 0.05 * np.arange(10)[:, None]  # the whole body slides 5 cm per frame
    assert P.foot_skating_ratio(sliding) == 1.0
    flying = sliding.copy()
    flying[:, :, 1] += 0.3  # the same slide in the air is not skating
    assert P.foot_skating_ratio(flying) == 0.0


def test_floor_penetration_and_jitter():
    joints = _standing(6)
    joints[2, 0, 1] = -0.1  # one frame 10 cm below the floor
    assert P.floor_penetration(joints) == pytest.approx({"mean": 0.1 / 6, "max": 0.1})
    t = np.arange(8, dtype=np.float64)
    linear = _standing(8)
    linear[:, :, 0] = t[:, None]
    assert P.jitter(linear) == pytest.approx(0.0, abs=1e-9)
    cubic = _standing(8)
    cubic[:, :, 0] = t[:, None] ** 3  # third difference of t^3 is 6 per frame^3
    assert P.jitter(cubic, fps=20.0) == pytest.approx(6 * 20.0**3)
    summary = P.plausibility([linear, joints])
    assert set(summary) == {"skating", "penetration_m", "jitter"}
