"""Pose-pair training data for the PoseFix stages (`posefix`, `feedback`).

Sources, all giving poses A and B as joint positions `(N, 22, 3)` float32 metres (heading of A
removed) and one or more correction texts per pair:
- the mined pairs written by `motion-train data` (`DATA/pairs/pairs_{split}.npz` + `.jsonl`);
- extra in-sequence pairs drawn at random from the split's clips (`DATA/new_joints`) and labelled
  by the same automatic describer (engine.describe): more pairs for a CPU-sized corpus;
- human-written pairs in PoseFix's released JSON format (`read_posefix_json`), for finetuning.
Left/right flip augmentation mirrors both poses (skeleton.MIRROR_MAP) and swaps the side words.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np

from engine.describe.joints import mirror_poses
from engine.errors import InputError
from engine.models.pose_codec import positions_to_sixd
from engine.motion.heading import face_forward, heading_angle
from trainer.data.joint_edits import joint_edit_pairs
from trainer.data.pair_texts import PairTexts, described_pairs, pick_clips, split_clips, split_frames
from trainer.data.short_commands import add_short_commands

# PoseFix (data_augmentations.py) leaves texts about clocks and axes unflipped: "to the right" there
# is not a body side. Our automatic texts never contain them; human texts may.
UNFLIPPABLE = re.compile(r"clock|x-axis|y-axis|z-axis", re.IGNORECASE)
# "a right angle" is no side (PoseFix: no flip before "angle(s)").
SIDE_WORD = re.compile(r"\b(left|right)(wards?)?\b(?!\s+angles?\b)", re.IGNORECASE)


def flip_text(text: str) -> str | None:
    """Swap left and right (keeping case); None when the text must not be flipped (PoseFix rule)."""
    if UNFLIPPABLE.search(text):
        return None

    def swap(match: re.Match) -> str:
        word, suffix = match.group(1), match.group(2) or ""
        other = "right" if word.lower() == "left" else "left"
        if word.isupper():
            other = other.upper()
        elif word[0].isupper():
            other = other.capitalize()
        return other + suffix

    return SIDE_WORD.sub(swap, text)


def mirror_pairs(pairs: PairTexts) -> PairTexts:
    """The left/right mirror of every flippable pair: poses mirrored, side words swapped."""
    keep, texts = [], []
    for i, options in enumerate(pairs.texts):
        flipped = [f for f in (flip_text(t) for t in options) if f is not None]
        if flipped:
            keep.append(i)
            texts.append(flipped)
    keep = np.array(keep, dtype=np.int64)
    return PairTexts(
        mirror_poses(pairs.pose_a[keep]).astype(np.float32), mirror_poses(pairs.pose_b[keep]).astype(np.float32), texts
    )


def load_mined_pairs(data_dir: str | Path, split: str) -> PairTexts:
    """The pairs `motion-train data` mined for `split` (one automatic text each)."""
    folder = Path(data_dir) / "pairs"
    npz, jsonl = folder / f"pairs_{split}.npz", folder / f"pairs_{split}.jsonl"
    if not npz.is_file() or not jsonl.is_file():
        raise InputError(
            f"{folder} has no pairs_{split}.npz/.jsonl; build the data with "
            f"`motion-train data --out {data_dir} ...` (without --no-pairs)."
        )
    with np.load(npz, allow_pickle=False) as data:
        pose_a, pose_b = data["pose_a"].astype(np.float32), data["pose_b"].astype(np.float32)
    lines = [json.loads(line) for line in jsonl.read_text(encoding="utf-8").splitlines() if line.strip()]
    return PairTexts(pose_a, pose_b, [[line["text"]] for line in lines])


def sample_clip_pairs(
    data_dir: str | Path, split: str, count: int, max_gap: int = 10, min_gap: int = 2, seed: int = 0
) -> PairTexts:
    """`count` random in-sequence pairs (B `min_gap..max_gap` frames after A, 20 fps) from the split's
    clips, turned to A's heading, labelled by engine.describe; unchanged pairs are dropped."""
    clips = split_clips(data_dir, split, min_gap + 1)
    if count <= 0 or not clips:
        return PairTexts.concat([])
    rng = np.random.default_rng(seed)
    a_list, b_list = [], []
    for c in pick_clips(clips, count, rng):
        clip = clips[c]
        gap = int(rng.integers(min_gap, min(max_gap, len(clip) - 1) + 1))
        start = int(rng.integers(0, len(clip) - gap))
        a_list.append(clip[start])
        b_list.append(clip[start + gap])
    a, b = np.stack(a_list).astype(np.float64), np.stack(b_list).astype(np.float64)
    yaw = heading_angle(a)
    return described_pairs(face_forward(a, yaw, a[:, 0]), face_forward(b, yaw, a[:, 0]), seed)


def read_posefix_json(
    annotations: str | Path, pair_ids: str | Path, poses: np.ndarray, split_ids: str | Path | None = None
) -> PairTexts:
    """Pairs in PoseFix's released format (Delmas et al. 2023; layout read by github.com/naver/posescript,
    `src/text2pose/config.py` and `src/text2pose/data.py`).

    annotations: `{"<pair_id>": [text, ...] or text}` (e.g. posefix_human_6157.json);
    pair_ids: `pair_id_2_pose_ids.json`, a list indexed by pair id of `[pose_A_id, pose_B_id]`;
    poses: `(P, 22, 3)` float joint positions indexed by those pose ids (PoseScript ids; the user
    makes them from AMASS with `motion-train data --amass`, PoseFix ships no poses);
    split_ids: optional `{split}_..._pair_ids.json` list restricting the pairs.
    """

    def read(path: str | Path):
        try:
            return json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as error:
            raise InputError(f"cannot read PoseFix file {path}: {error}") from None

    texts, mapping = read(annotations), read(pair_ids)
    if not isinstance(texts, dict) or not isinstance(mapping, list):
        raise InputError(
            f"{annotations} must map pair ids to texts and {pair_ids} must be a list of "
            f"[pose_A_id, pose_B_id] pairs (PoseFix release layout)."
        )
    wanted = [str(i) for i in read(split_ids)] if split_ids else sorted(texts, key=lambda k: int(k))
    poses = np.asarray(poses, dtype=np.float32)
    rows_a, rows_b, out_texts = [], [], []
    for pair_id in wanted:
        if pair_id not in texts:
            continue
        index = int(pair_id)
        if not 0 <= index < len(mapping):
            raise InputError(f"pair id {pair_id} in {annotations} is not in {pair_ids} ({len(mapping)} pairs).")
        a, b = (int(x) for x in mapping[index])
        if max(a, b) >= len(poses) or min(a, b) < 0:
            raise InputError(f"pair {pair_id} names poses {a} and {b}, but only {len(poses)} poses were given.")
        value = texts[pair_id]
        options = [value] if isinstance(value, str) else [str(t) for t in value]
        options = [t.strip() for t in options if t and t.strip()]
        if options:
            rows_a.append(a)
            rows_b.append(b)
            out_texts.append(options)
    return PairTexts(poses[rows_a], poses[rows_b], out_texts)


def pose_rotations(pairs: PairTexts) -> tuple[np.ndarray, np.ndarray]:
    """6D local rotations `(N, 22, 6)` float32 of A and B. Solved as one sequence per side (fast);
    only the twist of nearly straight limbs, which moves no joint, can differ from a lone solve."""
    if not len(pairs):
        return np.zeros((0, 22, 6), np.float32), np.zeros((0, 22, 6), np.float32)
    return (positions_to_sixd(pairs.pose_a, independent=False), positions_to_sixd(pairs.pose_b, independent=False))


def training_pairs(
    data_dir: str | Path, extra_pairs: int, max_gap: int, flip: bool, seed: int, joint_edits: int = 0
) -> PairTexts:
    """The train split's mined pairs plus `extra_pairs` random in-sequence ones and `joint_edits`
    single-joint edits of train poses (trainer.data.joint_edits), plus their mirrors."""
    edits = (
        joint_edit_pairs(split_frames(data_dir, "train", joint_edits, seed), joint_edits, seed)
        if joint_edits > 0
        else PairTexts.concat([])
    )
    pairs = PairTexts.concat(
        [
            load_mined_pairs(data_dir, "train"),
            sample_clip_pairs(data_dir, "train", extra_pairs, max_gap=max_gap, seed=seed),
            edits,
        ]
    )
    return PairTexts.concat([pairs, mirror_pairs(pairs)]) if flip else pairs


def human_pairs(annotations: str, pair_ids: str, poses: str, split_ids: str = "") -> PairTexts:
    """Human-written pairs in PoseFix's format; `poses` is a `.npy` of `(P, 22, 3)` joint positions."""
    try:
        positions = np.load(poses, allow_pickle=False)
    except (OSError, ValueError) as error:
        raise InputError(
            f"cannot read the poses file {poses} ({error}); give a .npy of (P, 22, 3) joint "
            f"positions in metres indexed by PoseScript pose id."
        ) from None
    if positions.ndim != 3 or positions.shape[1:] != (22, 3):
        raise InputError(f"{poses} holds an array of shape {positions.shape}; expected (P, 22, 3).")
    pairs = read_posefix_json(annotations, pair_ids, positions, split_ids or None)
    return face_front(pairs)


def face_front(pairs: PairTexts) -> PairTexts:
    """Turn each pair so that A faces +Z with its pelvis at x = z = 0; B gets A's turn (PoseFix 1.2)."""
    if not len(pairs):
        return pairs
    a, b = pairs.pose_a.astype(np.float64), pairs.pose_b.astype(np.float64)
    yaw = heading_angle(a)
    return PairTexts(
        face_forward(a, yaw, a[:, 0]).astype(np.float32), face_forward(b, yaw, a[:, 0]).astype(np.float32), pairs.texts
    )


def load_stage_pairs(config) -> tuple[PairTexts, PairTexts]:
    """(train, val) pairs of a PoseFix stage config (posefix or feedback: same field names).

    Training: the human pairs (with their flips) when given, else automatic pairs, each with one more
    text option, a short command, when the config asks for `short_commands` (pose editor only: the
    writer learns the automatic style); validation: the first `val_pairs` mined val pairs (none when
    finetuning on human pairs), texts unchanged.
    """
    if config.human_annotations:
        pairs = human_pairs(config.human_annotations, config.human_pair_ids, config.human_poses, config.human_split_ids)
        train = PairTexts.concat([pairs, mirror_pairs(pairs)]) if config.flip else pairs
        val = PairTexts.concat([])
    else:
        train = training_pairs(
            config.data_dir,
            config.extra_pairs,
            config.max_gap,
            config.flip,
            config.seed,
            getattr(config, "joint_edits", 0),
        )
        val = load_mined_pairs(config.data_dir, "val")
    if getattr(config, "short_commands", False):
        texts, _ = add_short_commands(train.pose_a, train.pose_b, train.texts, seed=config.seed)
        train = PairTexts(train.pose_a, train.pose_b, texts)
    val = PairTexts(val.pose_a[: config.val_pairs], val.pose_b[: config.val_pairs], val.texts[: config.val_pairs])
    return train, val
