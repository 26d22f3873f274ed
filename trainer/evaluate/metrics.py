"""Motion metrics of the literature (Guo et al. 2022 T2M evaluator protocol, MotionGPT, PoseFix).

Pure numpy/scipy on embeddings or joints; no model here. Conventions follow the reference code
(Guo et al. 2022's T2M evaluator as used by MotionGPT, Jiang et al. 2023: github.com/OpenMotionLab/MotionGPT,
`mGPT/metrics/t2m.py`; T2M-GPT, github.com/Mael-zys/T2M-GPT, `utils/eval_trans.py`):
- R-precision: in groups of `batch_size` (32), each query row is ranked against the group's columns
  by Euclidean distance; a hit at k when a correct column is among the k nearest.
- FID: Frechet distance between Gaussians fitted to two embedding sets (scipy.linalg.sqrtm).
- MM-Dist: mean distance of each text to its own motion. Diversity: mean distance between
  random pairs. Multimodality: mean distance between pairs of generations for the same text.
- ADE/FDE: joint-position errors on the predicted frames (MotionGPT PredMetrics).

    >>> dist = euclidean_distance_matrix(text_emb, motion_emb)
    >>> r_precision(dist, top_k=3)   # array([R@1, R@2, R@3])
"""

from __future__ import annotations

import numpy as np
from scipy import linalg

from engine.errors import InputError

R_PRECISION_BATCH = 32  # Guo et al. / T2M-GPT eval loader batch size
DIVERSITY_PAIRS = 300  # Guo et al. diversity_times
MULTIMODALITY_PAIRS = 10  # MotionGPT MM_NUM_TIMES
FID_EPS = 1e-6  # added to the covariance diagonals when sqrtm is singular (pytorch-fid)


def euclidean_distance_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """`(N, D)`, `(M, D)` -> `(N, M)` float64 Euclidean distances."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    squared = (a * a).sum(1)[:, None] - 2.0 * a @ b.T + (b * b).sum(1)[None, :]
    return np.sqrt(np.maximum(squared, 0.0))


def r_precision(dist: np.ndarray, top_k: int = 3, matches: np.ndarray | None = None) -> np.ndarray:
    """Fraction of rows whose nearest `k` columns hold a correct one, for k = 1..top_k.

    dist: `(N, M)` distances, rows are queries. matches: `(N, M)` bool, which columns count as
    correct for each row; default the diagonal (row i's own item is column i, the paper protocol).
    Ties are broken by column order (stable sort), as numpy's argsort in the reference code.
    Returns `(top_k,)` float64.
    """
    dist = np.asarray(dist)
    if matches is None:
        matches = np.eye(*dist.shape, dtype=bool)
    order = np.argsort(dist, axis=1, kind="stable")[:, :top_k]
    hit = np.take_along_axis(np.asarray(matches, bool), order, axis=1)  # (N, top_k)
    return np.logical_or.accumulate(hit, axis=1).mean(0)


def batched_retrieval(
    queries: np.ndarray,
    items: np.ndarray,
    rng: np.random.Generator,
    matches: np.ndarray | None = None,
    batch_size: int = R_PRECISION_BATCH,
    top_k: int = 3,
) -> dict[str, float]:
    """R-precision (top 1..top_k) and MM-Dist over shuffled groups of `batch_size` (last partial group
    dropped, as the reference eval loaders with drop_last). queries[i] belongs to items[i].

    queries, items: `(N, D)` embeddings. matches: `(N, N)` bool over the whole set (which item is
    correct for which query), default the diagonal. Returns {"R@1".., "MM-Dist"}.
    """
    count = len(queries)
    if count < batch_size:
        raise InputError(
            f"R-precision is computed over groups of {batch_size} (as in the literature) but the split "
            f"has only {count} items; build more data (e.g. more --procedural motions) or evaluate "
            "on a larger split"
        )
    order = rng.permutation(count)
    scores, mm_dist = [], []
    for start in range(0, count - batch_size + 1, batch_size):
        group = order[start : start + batch_size]
        dist = euclidean_distance_matrix(queries[group], items[group])
        sub = None if matches is None else np.asarray(matches)[np.ix_(group, group)]
        scores.append(r_precision(dist, top_k, sub))
        mm_dist.append(np.diag(dist).mean())
    result = {f"R@{k + 1}": float(v) for k, v in enumerate(np.mean(scores, 0))}
    result["MM-Dist"] = float(np.mean(mm_dist))
    return result


def gaussian_statistics(embeddings: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """`(N, D)` -> mean `(D,)` and covariance `(D, D)` (unbiased, as np.cov in the reference code)."""
    embeddings = np.asarray(embeddings, np.float64)
    return embeddings.mean(0), np.cov(embeddings, rowvar=False)


def frechet_distance(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray) -> float:
    """||mu1 - mu2||^2 + Tr(S1 + S2 - 2 (S1 S2)^(1/2)) (Dowson & Landau; FID of Heusel et al.)."""
    mu1, mu2 = np.atleast_1d(mu1).astype(np.float64), np.atleast_1d(mu2).astype(np.float64)
    sigma1, sigma2 = np.atleast_2d(sigma1).astype(np.float64), np.atleast_2d(sigma2).astype(np.float64)
    covmean = linalg.sqrtm(sigma1 @ sigma2)
    if not np.isfinite(covmean).all():
        # Singular product (fewer samples than dimensions): regularise as pytorch-fid does.
        offset = np.eye(len(sigma1)) * FID_EPS
        covmean = linalg.sqrtm((sigma1 + offset) @ (sigma2 + offset))
    covmean = covmean.real  # sqrtm of a product of PSD matrices has tiny imaginary round-off
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2.0 * np.trace(covmean))


def fid(embeddings: np.ndarray, reference: np.ndarray) -> float:
    """FID between two `(N, D)` embedding sets."""
    return frechet_distance(*gaussian_statistics(embeddings), *gaussian_statistics(reference))


def diversity(embeddings: np.ndarray, rng: np.random.Generator, pairs: int = DIVERSITY_PAIRS) -> float:
    """Mean distance between `pairs` random pairs (two index draws without replacement, as Guo et al.);
    with fewer than `pairs` samples, `N` pairs are used."""
    embeddings = np.asarray(embeddings, np.float64)
    pairs = min(pairs, len(embeddings))
    first = rng.choice(len(embeddings), pairs, replace=False)
    second = rng.choice(len(embeddings), pairs, replace=False)
    return float(np.linalg.norm(embeddings[first] - embeddings[second], axis=1).mean())


def multimodality(embeddings: np.ndarray, rng: np.random.Generator, pairs: int = MULTIMODALITY_PAIRS) -> float:
    """`(N, R, D)` embeddings of R generations per text -> mean distance between `pairs` random
    pairs of generations of the same text (Guo et al. calculate_multimodality)."""
    embeddings = np.asarray(embeddings, np.float64)
    pairs = min(pairs, embeddings.shape[1])
    first = rng.choice(embeddings.shape[1], pairs, replace=False)
    second = rng.choice(embeddings.shape[1], pairs, replace=False)
    return float(np.linalg.norm(embeddings[:, first] - embeddings[:, second], axis=-1).mean())


def mpjpe(predicted: np.ndarray, target: np.ndarray) -> float:
    """Mean per-joint position error: `(..., J, 3)` arrays in the same unit -> mean L2 over all."""
    return float(np.linalg.norm(np.asarray(predicted, np.float64) - np.asarray(target, np.float64), axis=-1).mean())


def prediction_window(frames: int, task: str) -> slice:
    """Frames scored by ADE/FDE: `[int(0.2 T):]` for prediction, `[int(0.25 T) : T - int(0.25 T)]`
    for in-between (MotionGPT PredMetrics)."""
    if task == "prediction":
        return slice(int(0.2 * frames), frames)
    if task == "inbetween":
        return slice(int(0.25 * frames), frames - int(0.25 * frames))
    raise ValueError(f"task={task!r}; expected 'prediction' or 'inbetween'")


def ade_fde(predicted: np.ndarray, target: np.ndarray, task: str = "prediction") -> tuple[float, float]:
    """ADE and FDE of one motion: `(T, J, 3)` joints, flattened to `J*3` per frame as MotionGPT does.

    ADE = mean over the scored frames of the L2 norm of the per-frame difference; FDE = the same at
    the last scored frame. Same unit as the input.
    """
    predicted, target = np.asarray(predicted, np.float64), np.asarray(target, np.float64)
    frames = min(len(predicted), len(target))
    window = prediction_window(frames, task)
    error = np.linalg.norm((predicted[:frames] - target[:frames]).reshape(frames, -1), axis=1)[window]
    return float(error.mean()), float(error[-1])


def codebook_usage(ids: np.ndarray, code_num: int) -> dict[str, float]:
    """Share of the codebook used by token `ids` (any shape) and the perplexity of their histogram."""
    ids = np.asarray(ids).ravel()
    counts = np.bincount(ids, minlength=code_num).astype(np.float64)
    probs = counts / max(counts.sum(), 1.0)
    nonzero = probs[probs > 0]
    return {
        "usage": float((counts > 0).sum() / code_num),
        "perplexity": float(np.exp(-(nonzero * np.log(nonzero)).sum())),
    }


def best_of_n_joint_error(samples: np.ndarray, target: np.ndarray) -> dict[str, float]:
    """Pose-editing error over N samples per query (PoseFix "MPJE top1" and average).

    samples: `(Q, N, J, 3)`; target: `(Q, J, 3)`, same unit. Returns the mean over queries of the
    best sample's mean joint error ("best") and of the average sample's error ("mean").
    """
    samples, target = np.asarray(samples, np.float64), np.asarray(target, np.float64)
    per_sample = np.linalg.norm(samples - target[:, None], axis=-1).mean(-1)  # (Q, N)
    return {"best": float(per_sample.min(1).mean()), "mean": float(per_sample.mean())}


def mean_confidence(values: list[float] | np.ndarray) -> tuple[float, float]:
    """Mean and 95% confidence half-width 1.96 sigma / sqrt(n) over repeats (T2M-GPT eval)."""
    values = np.asarray(values, np.float64)
    if len(values) < 2:
        return float(values.mean()), 0.0
    return float(values.mean()), float(1.96 * values.std() / np.sqrt(len(values)))
