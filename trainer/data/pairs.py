"""PoseFix pose-pair mining from motion clips: (pose A, pose B) pairs plus a correction text.

Follows PoseFix (Delmas et al., ICCV 2023; github.com/naver/posescript, `src/other_utils/pose_mining.py`
and `src/other_utils/pair_mining.py`), per split:
- a farthest-point-sampled pose set (RMS per-joint distance, seeded with the first pose);
- in-sequence pairs: A earlier than B in the same clip, at most 0.5 s apart, in a similarity band,
  more than `min_diff_in` differing posecodes, each pose B once and each pose A once, the
  smallest time gap winning;
- out-of-sequence pairs: A among B's `top_k` most similar poses of other clips (a clip and its
  mirror count as one), in the band, more than `min_diff_out` differing posecodes; the `window`
  most similar candidates are kept and one is drawn with weight 1/(times it is a candidate); if
  that A is still waiting for its own turn as B the pair is kept both ways ("two-way").
Global heading is removed: each out-of-sequence pose is rotated to face +Z on its own; an
in-sequence B gets A's rotation so the turn between them is kept (posefix.md 1.2 step 5).

Deviations, on purpose: PoseFix measures similarity with a learned PoseScript pose encoder that
we do not have; we use the cosine between mean-centred, heading-normalised joint positions (the
band is a parameter and the statistics report how many pairs it lets through). In-sequence A
poses may be any frame of the clip, not only FPS-selected ones: with 0.5 s windows and a sparse
pose set almost no in-sequence pair would survive on a dataset the size of ours.

Run: `python -m trainer.data.pairs DATASET_DIR` mines pairs from a built HumanML3D-layout folder.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from engine.describe.captioner import evaluate_posecodes
from engine.describe.corrector import describe_changes
from engine.describe.joints import normalise
from engine.motion.heading import face_forward, heading_angle

FPS = 20.0
SIGNATURE_CHUNK = 20000  # poses per posecode evaluation (35 code joints x float64 intermediates)


@dataclass(frozen=True)
class PairConfig:
    """Pair-mining parameters (PoseFix defaults where it has them)."""

    max_seconds: float = 0.5  # in-sequence time gap (PoseFix MAX_TIMEDIFF)
    pose_set: int = 4000  # at most this many farthest-point-sampled poses per split
    pose_fraction: float = 0.15  # ... and at most this fraction of the candidate poses
    stride: int = 4  # candidate frames: every `stride` frames (5 per second)
    min_similarity: float = 0.7  # PoseFix MIN_SIM
    max_similarity: float = 0.9  # PoseFix MAX_SIM
    top_k: int = 100  # PoseFix FT_TOP
    window: int = 3  # PoseFix PC_CONSTRAINT_WINDOW
    min_diff_in: int = 15  # PoseFix MIN_PCDIFF in-sequence (strictly more than this)
    min_diff_out: int = 20  # PoseFix MIN_PCDIFF out-of-sequence
    seed: int = 0

    def __post_init__(self) -> None:
        if not 0 <= self.min_similarity < self.max_similarity <= 1:
            raise ValueError(
                f"similarity band must satisfy 0 <= min < max <= 1, got {self.min_similarity}, {self.max_similarity}"
            )
        if not 0 < self.pose_fraction <= 1:
            raise ValueError(f"pose_fraction must be in (0, 1], got {self.pose_fraction}")
        for name in ("pose_set", "stride", "top_k", "window"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")


@dataclass
class PairSet:
    """Mined pairs: poses `(N, 22, 3)` float32 metres, heading removed; ids 'clip:frame'."""

    pose_a: np.ndarray
    pose_b: np.ndarray
    id_a: list[str]
    id_b: list[str]
    kind: list[str]  # 'in', 'out_one_way' or 'out_two_way'
    yaw_change_deg: np.ndarray  # (N,) heading of B minus A; 0 for out-of-sequence pairs

    def __len__(self) -> int:
        return len(self.kind)


def farthest_point_sampling(points: np.ndarray, count: int) -> np.ndarray:
    """Indices of `count` poses chosen greedily farthest from those already chosen, starting with
    index 0 (PoseScript pose_mining). `points` is `(N, 22, 3)`.

    Distance: root-mean-square per-joint distance, not PoseScript's mean per-joint distance: it
    is the flattened Euclidean distance (over sqrt 22), so each step is one matrix-vector product
    (|x|^2 + |y|^2 - 2 x.y) instead of N x 22 norms; on the full Bandai train split that took
    mining from minutes to seconds.
    """
    count = min(count, len(points))
    flat = np.asarray(points, dtype=np.float64).reshape(len(points), -1)
    squared = np.einsum("ij,ij->i", flat, flat)
    chosen = np.empty(count, dtype=np.int64)
    distance = np.full(len(points), np.inf)
    index = 0
    for i in range(count):
        chosen[i] = index
        np.minimum(distance, squared + squared[index] - 2.0 * (flat @ flat[index]), out=distance)
        index = int(np.argmax(distance))
    return chosen


def _posecode_signature(poses: np.ndarray) -> np.ndarray:
    """Posecode classes and super-posecodes per pose, `(N, 22, 3)` -> `(N, C + S)` int."""
    chunks = []
    for start in range(0, len(poses), SIGNATURE_CHUNK):  # bounded memory on large datasets
        classes, _, supers = evaluate_posecodes(poses[start : start + SIGNATURE_CHUNK], None, absolute_only=False)
        chunks.append(np.concatenate([classes, supers], axis=1).astype(np.int8))
    return np.concatenate(chunks)


def _features(normalised: np.ndarray, mean: np.ndarray) -> np.ndarray:
    flat = (normalised - mean).reshape(len(normalised), -1)
    return (flat / np.maximum(np.linalg.norm(flat, axis=1, keepdims=True), 1e-9)).astype(np.float32)


def _base_clip(clip_id: str) -> str:
    return clip_id[1:] if clip_id.startswith("M") else clip_id


def mine_pairs(clips: Sequence[tuple[str, np.ndarray]], config: PairConfig = PairConfig()) -> PairSet:
    """Mine PoseFix pairs from clips of one split: `(clip_id, positions (T, 22, 3) metres 20 fps)`."""
    rng = np.random.default_rng(config.seed)
    # Every frame of every clip, normalised (faces +Z, pelvis at x = z = 0, lowest joint at y = 0).
    offsets = np.cumsum([0] + [len(p) for _, p in clips])
    frames = np.concatenate([np.asarray(p, dtype=np.float64) for _, p in clips])
    clip_of = np.repeat(np.arange(len(clips)), np.diff(offsets))
    normal = normalise(frames)
    mean = normal.mean(axis=0)
    signature = _posecode_signature(frames)
    candidates = np.concatenate([np.arange(offsets[c], offsets[c + 1], config.stride) for c in range(len(clips))])
    size = min(config.pose_set, max(2, int(len(candidates) * config.pose_fraction)))
    pose_set = candidates[farthest_point_sampling(normal[candidates], size)]
    feats = _features(normal[pose_set], mean)
    pairs: list[tuple[int, int, str]] = []
    pairs += _in_sequence(pose_set, normal, mean, signature, offsets, clip_of, config)
    bases = np.array([_base_clip(clip_id) for clip_id, _ in clips])
    pairs += _out_of_sequence(pose_set, feats, signature, bases[clip_of[pose_set]], config, rng)
    a, b = np.array([p[0] for p in pairs], dtype=np.int64), np.array([p[1] for p in pairs], dtype=np.int64)
    kinds = [p[2] for p in pairs]
    in_seq = np.array([k == "in" for k in kinds], dtype=bool)
    yaw = heading_angle(frames)
    pose_a = face_forward(frames[a], yaw[a], frames[a, 0])
    # In-sequence B keeps A's frame (the turn between them is part of the correction).
    pose_b = np.where(
        in_seq[:, None, None],
        face_forward(frames[b], yaw[a], frames[a, 0]),
        face_forward(frames[b], yaw[b], frames[b, 0]),
    )
    floor_a = frames[a, :, 1].min(axis=1)
    pose_a[..., 1] -= floor_a[:, None]
    pose_b[..., 1] -= np.where(in_seq, floor_a, frames[b, :, 1].min(axis=1))[:, None]
    name = lambda i: f"{clips[clip_of[i]][0]}:{i - offsets[clip_of[i]]}"  # noqa: E731
    change = np.where(in_seq, np.degrees(np.angle(np.exp(1j * (yaw[b] - yaw[a])))), 0.0)
    return PairSet(
        pose_a.astype(np.float32),
        pose_b.astype(np.float32),
        [name(i) for i in a],
        [name(i) for i in b],
        kinds,
        change.astype(np.float32),
    )


def _in_sequence(
    pose_set: np.ndarray,
    normal: np.ndarray,
    mean: np.ndarray,
    signature: np.ndarray,
    offsets: np.ndarray,
    clip_of: np.ndarray,
    config: PairConfig,
) -> list[tuple[int, int, str]]:
    """In-sequence pairs (A before B, gap <= max_seconds); B in FPS order, A and B used once each."""
    max_gap = int(round(config.max_seconds * FPS))
    used_a, used_b, pairs = set(), set(), []
    for b in pose_set:
        if b in used_b:
            continue
        start = max(offsets[clip_of[b]], b - max_gap)
        options = np.arange(b - 1, start - 1, -1)  # nearest in time first: PoseFix keeps the smallest gap
        options = options[[a not in used_a and a not in used_b for a in options]] if len(options) else options
        if not len(options):
            continue
        sim = _features(normal[options], mean) @ _features(normal[b : b + 1], mean)[0]
        diff = (signature[options] != signature[b]).sum(axis=1)
        ok = (sim > config.min_similarity) & (sim < config.max_similarity) & (diff > config.min_diff_in)
        if ok.any():
            a = int(options[np.argmax(ok)])
            used_a.add(a)
            used_b.add(int(b))
            pairs.append((a, int(b), "in"))
    return pairs


def _out_of_sequence(
    pose_set: np.ndarray,
    feats: np.ndarray,
    signature: np.ndarray,
    base: np.ndarray,
    config: PairConfig,
    rng: np.random.Generator,
) -> list[tuple[int, int, str]]:
    """Out-of-sequence pairs among the FPS set; indices returned are frame indices."""
    sim = feats @ feats.T  # (S, S) cosine
    np.fill_diagonal(sim, 0.0)
    sim[base[:, None] == base[None, :]] = 0.0  # same clip (or its mirror): not out-of-sequence
    k = min(config.top_k, len(pose_set) - 1)
    top = np.argpartition(-sim, k, axis=1)[:, :k] if k > 0 else np.zeros((len(pose_set), 0), np.int64)
    top = np.take_along_axis(top, np.argsort(-np.take_along_axis(sim, top, axis=1), axis=1), axis=1)
    sig = signature[pose_set]
    candidates: list[np.ndarray] = []
    for b in range(len(pose_set)):
        cand = top[b]
        s = sim[b, cand]
        cand = cand[(s > config.min_similarity) & (s < config.max_similarity)]
        cand = cand[(sig[cand] != sig[b]).sum(axis=1) > config.min_diff_out]
        candidates.append(cand[: config.window])  # top is sorted by similarity already
    times_candidate = np.bincount(np.concatenate(candidates + [np.zeros(0, np.int64)]), minlength=len(pose_set))
    waiting = np.ones(len(pose_set), dtype=bool)
    pairs = []
    for b in range(len(pose_set)):  # FPS order: lower index = more diverse
        if not waiting[b] or not len(candidates[b]):
            continue
        waiting[b] = False
        weights = 1.0 / times_candidate[candidates[b]]
        a = int(rng.choice(candidates[b], p=weights / weights.sum()))
        if waiting[a]:
            waiting[a] = False
            pairs += [
                (int(pose_set[a]), int(pose_set[b]), "out_two_way"),
                (int(pose_set[b]), int(pose_set[a]), "out_two_way"),
            ]
        else:
            pairs.append((int(pose_set[a]), int(pose_set[b]), "out_one_way"))
    return pairs


def describe_pairs(pairs: PairSet, seed: int = 0) -> list[str]:
    """The automatic correction text for each pair (engine.describe, PoseFix paircodes)."""
    return describe_changes(pairs.pose_a, pairs.pose_b, seed=seed) if len(pairs) else []


def save_pairs(pairs: PairSet, texts: list[str], out_dir: Path, split: str) -> None:
    """Write `pairs_{split}.npz` (pose_a, pose_b, yaw_change_deg, kind, id_a, id_b; no pickle) and
    `pairs_{split}.jsonl` (one line per pair with its correction text)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    np.savez(
        out_dir / f"pairs_{split}.npz",
        pose_a=pairs.pose_a,
        pose_b=pairs.pose_b,
        yaw_change_deg=pairs.yaw_change_deg,
        kind=np.array(pairs.kind, dtype=np.str_),
        id_a=np.array(pairs.id_a, dtype=np.str_),
        id_b=np.array(pairs.id_b, dtype=np.str_),
    )
    with open(out_dir / f"pairs_{split}.jsonl", "w", encoding="utf-8") as handle:
        for i, text in enumerate(texts):
            handle.write(
                json.dumps({"index": i, "a": pairs.id_a[i], "b": pairs.id_b[i], "kind": pairs.kind[i], "text": text})
                + "\n"
            )


def mine_dataset(
    dataset_dir: Path, config: PairConfig = PairConfig(), progress: bool = False
) -> dict[str, dict[str, int]]:
    """Mine and save pairs for each split of a built dataset; returns counts per split and kind."""
    dataset_dir = Path(dataset_dir)
    counts = {}
    for split in tqdm(("train", "val", "test"), desc="pose pairs", unit="split", disable=not progress):
        ids = (dataset_dir / f"{split}.txt").read_text(encoding="utf-8").split()
        clips = [(i, np.load(dataset_dir / "new_joints" / f"{i}.npy")) for i in ids]
        clips = [(i, p) for i, p in clips if len(p) > 1]
        pairs = (
            mine_pairs(clips, config)
            if clips
            else PairSet(
                np.zeros((0, 22, 3), np.float32), np.zeros((0, 22, 3), np.float32), [], [], [], np.zeros(0, np.float32)
            )
        )
        save_pairs(pairs, describe_pairs(pairs, config.seed), dataset_dir / "pairs", split)
        counts[split] = {kind: pairs.kind.count(kind) for kind in ("in", "out_one_way", "out_two_way")}
    (dataset_dir / "pairs" / "config.json").write_text(json.dumps(asdict(config), indent=1), encoding="utf-8")
    return counts


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="Mine PoseFix pose pairs from a built dataset.")
    parser.add_argument("dataset_dir", type=Path)
    parser.add_argument("--pose-set", type=int, default=PairConfig.pose_set)
    print(mine_dataset(parser.parse_args().dataset_dir, PairConfig(pose_set=parser.parse_args().pose_set)))
