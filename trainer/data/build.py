"""Build a training dataset in the HumanML3D layout from any mix of sources (`motion-train data`).

Output folder:
    new_joint_vecs/<id>.npy  (T-1, 263) float32 HumanML3D features (engine.motion.features)
    new_joints/<id>.npy      (T-1, 22, 3) float32 metres, 20 fps: the joints those features encode
    texts/<id>.txt           `caption#lemma/POS ...#0.0#0.0` lines (trainer.data.captions)
    Mean.npy, Std.npy        (263,) over the train split only
    train.txt val.txt test.txt all.txt   ids, a clip and its mirror `M<id>` always together
    meta.jsonl               per id: source, origin file, cell, labels, frames
    pairs/                   PoseFix pose pairs per split (trainer.data.pairs)
    instructions/            task-mixture examples per split (trainer.data.instructions)
    stats.json, stats.md     the statistics report (trainer.data.stats)

Ids: B (Bandai dataset-2), D (Bandai dataset-1 segments), P (procedural), V (BVH folder), A (AMASS)
+ 6 digits; HumanML3D/KIT folders keep their own ids (they already hold their mirrors). The split
unit is the source clip (meta `group`): a dataset-1 clip's segments and all their mirrors share
one split.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from engine.errors import InputError
from engine.formats.humanml3d import TextAnnotation, open_dataset, write_mean_std, write_motion, write_split
from engine.motion.features import compute_mean_std, joints_num_for_dim, joints_to_features, mirror_joints
from trainer.data import captions as cap
from trainer.data import instructions, sources, stats
from trainer.data.pairs import PairConfig, mine_dataset
from trainer.data.procedural.plausibility import aggregate_plausibility, check_plausibility
from trainer.data.sources import Source, SourceMotion
from trainer.data.splits import SPLITS, split_by_cell

LAYOUT_DIRS = ("new_joints", "new_joint_vecs", "texts")


@dataclass
class BuildOptions:
    """What to build from; every source is optional but at least one must be given."""

    out: Path
    bandai: Path | list[Path] | None = None  # Bandai-Namco folders, dataset-1 and/or dataset-2
    humanml3d: Path | None = None
    bvh_dir: Path | None = None
    labels: Path | None = None
    amass: Path | None = None
    body_models: Path | None = None
    procedural: int = 0
    seed: int = 0
    captions_per_clip: int = 3
    limit_per_cell: int | None = None  # Bandai (both datasets): first N clips per content x style cell
    mirror: bool = True
    pairs: bool = True
    pair_config: PairConfig = field(default_factory=PairConfig)
    instructions_per_motion: int = 4
    progress: bool = True


def bandai_folders(bandai: Path | list[Path] | None) -> list[Path]:
    """The Bandai folders of BuildOptions.bandai (one path or a list)."""
    if not bandai:
        return []
    return [Path(bandai)] if isinstance(bandai, (str, Path)) else [Path(p) for p in bandai]


def _sources(options: BuildOptions) -> list[Source]:
    found = []
    for folder in bandai_folders(options.bandai):
        source = sources.bandai_source(folder, options.captions_per_clip, options.seed, options.limit_per_cell)
        if any(s.name == source.name for s in found):
            raise InputError(f"{folder}: a second {source.name} folder; pass each Bandai dataset once.")
        found.append(source)
    if options.bvh_dir:
        found.append(sources.files_source(options.bvh_dir, options.labels, "*.bvh", "bvh", "V"))
    if options.amass:
        if not options.body_models:
            raise InputError(
                "--amass needs --body-models: the folder with your SMPL-H model files "
                "(they are licensed and not shipped)."
            )
        found.append(
            sources.files_source(options.amass, options.labels, "*.npz", "amass", "A", body_model=options.body_models)
        )
    if options.procedural > 0:
        try:
            found.append(sources.procedural_source(options.procedural, options.seed))
        except ImportError as error:
            raise InputError(
                f"--procedural {options.procedural}: the procedural generator is not "
                f"available in this installation ({error})."
            ) from None
    return found


def _write_clip(out: Path, name: str, positions: np.ndarray, texts: list[str]) -> int:
    """Write one motion's features, joints and texts; returns its frame count (feature frames).

    As in HumanML3D, new_joints holds the joints the features encode (retargeted to the one
    feature skeleton, T-1 frames), so features_to_joints(new_joint_vecs) == new_joints.
    """
    features, joints = joints_to_features(positions, return_joints=True)
    annotations = [TextAnnotation(t, tuple(cap.tokens(t))) for t in texts]
    write_motion(out, name, features=features, joints=joints, texts=annotations)
    return int(features.shape[0])


def _check_motion(motion: SourceMotion) -> str | None:
    """Why a motion cannot be used, or None."""
    p = motion.positions
    if p.ndim != 3 or p.shape[1:] != (22, 3):
        return f"shape {p.shape} is not (T, 22, 3)"
    if p.shape[0] < 2:
        return f"{p.shape[0]} frame(s); features need at least 2"
    if not np.isfinite(p).all():
        return "non-finite joint positions"
    return None


@dataclass
class _Written:
    """What the split needs of the written motions: split unit -> cell, base id -> split unit."""

    cells: dict[str, str] = field(default_factory=dict)
    groups: dict[str, str] = field(default_factory=dict)
    train_cells: set[str] = field(default_factory=set)


def _write_source_motions(
    options: BuildOptions, out: Path, meta: list[dict], skipped: list[dict], checks: dict[str, list[dict]]
) -> _Written:
    """Convert every source motion (and its mirror). Plausibility results per source (the
    procedural generator's checks, which fit any motion) are appended to `checks` (mirrors are
    not re-checked: the checks are symmetric)."""
    written = _Written()
    found = _sources(options)
    total = sum(s.count for s in found)
    with tqdm(total=total, unit="clip", desc="motions", disable=not options.progress) as bar:
        for source in found:
            written.train_cells |= source.train_cells
            last_group = None
            for motion in source.motions:
                if not motion.group or motion.group != last_group:
                    bar.update(1)  # segments of one clip count once
                last_group = motion.group
                problem = _check_motion(motion)
                if problem:
                    skipped.append({"source": motion.source, "origin": motion.origin, "reason": problem})
                    continue
                frames = _write_clip(out, motion.name, motion.positions, motion.captions)
                entry = {
                    "id": motion.name,
                    "source": motion.source,
                    "origin": motion.origin,
                    "cell": motion.cell,
                    "frames": frames,
                    "captions": len(motion.captions),
                    "labels": motion.labels,
                }
                group = f"{motion.source}:{motion.group}" if motion.group else motion.name
                if motion.group:
                    entry["group"] = group
                meta.append(entry)
                written.cells[group] = motion.cell
                written.groups[motion.name] = group
                checks.setdefault(motion.source, []).append(
                    check_plausibility(motion.positions)
                )  # checks that apply to any motion
                if options.mirror:
                    mirrored = np.asarray(mirror_joints(motion.positions), dtype=np.float32)
                    _write_clip(out, "M" + motion.name, mirrored, [cap.mirror_text(t) for t in motion.captions])
                    labels = {
                        k: cap.mirror_text(v) if isinstance(v, str) else v for k, v in (motion.labels or {}).items()
                    }
                    meta.append({**entry, "id": "M" + motion.name, "mirror_of": motion.name, "labels": labels})
    return written


def _copy_humanml3d(folder: Path, out: Path, meta: list[dict]) -> dict[str, list[str]]:
    """Copy a HumanML3D/KIT-ML folder's clips in (validated by the reader); returns its splits."""
    source = open_dataset(folder)
    if source.kind == "kit" and len(list(out.glob("new_joints/*.npy"))):
        raise InputError(
            f"{folder} is KIT-ML (21 joints, 251-dim features) and cannot be mixed with "
            "SMPL-22 sources; build it into its own --out folder."
        )
    splits = {split: source.ids(split) for split in SPLITS}
    for split, ids in splits.items():
        for clip_id in ids:
            joints = source.joints(clip_id)
            write_motion(out, clip_id, features=source.features(clip_id), joints=joints, texts=source.texts(clip_id))
            meta.append(
                {
                    "id": clip_id,
                    "source": source.kind,
                    "origin": str(folder),
                    "cell": split,
                    "frames": int(joints.shape[0]),
                    "split": split,
                }
            )
    return splits


def _mean_std(out: Path, train_ids: list[str]) -> tuple[np.ndarray, np.ndarray]:
    features = [np.load(out / "new_joint_vecs" / f"{i}.npy") for i in train_ids]
    if not features:
        raise InputError("the train split is empty, so Mean/Std cannot be computed; give more clips.")
    mean, std = compute_mean_std(features, joints_num_for_dim(features[0].shape[1]))
    return np.asarray(mean, dtype=np.float32), np.asarray(std, dtype=np.float32)


def build_dataset(options: BuildOptions) -> dict:
    """Build everything into `options.out`; returns the statistics (also written to stats.json/md)."""
    started = time.perf_counter()
    out = Path(options.out)
    if not any([bandai_folders(options.bandai), options.humanml3d, options.bvh_dir, options.amass, options.procedural]):
        raise InputError("no data source given: pass --bandai, --humanml3d, --bvh-dir, --amass or --procedural N.")
    if out.exists() and any((out / d).exists() for d in LAYOUT_DIRS):
        raise InputError(f"{out} already holds a dataset; choose an empty --out folder (nothing is overwritten).")
    for sub in LAYOUT_DIRS:
        (out / sub).mkdir(parents=True, exist_ok=True)
    meta: list[dict] = []
    skipped: list[dict] = []
    checks: dict[str, list[dict]] = {}
    written = _write_source_motions(options, out, meta, skipped, checks)
    by_group = split_by_cell(written.cells, options.seed, train_cells=written.train_cells)
    assignment = {base: by_group[group] for base, group in written.groups.items()}
    split_ids: dict[str, list[str]] = {s: [] for s in SPLITS}
    for base, split in sorted(assignment.items()):
        split_ids[split] += [base] + (["M" + base] if options.mirror else [])
    if options.humanml3d:
        for split, ids in _copy_humanml3d(options.humanml3d, out, meta).items():
            split_ids[split] += ids
    for entry in meta:
        entry.setdefault("split", assignment.get(entry.get("mirror_of", entry["id"])))
    for split, ids in split_ids.items():
        write_split(out, split, ids)
    write_split(out, "all", [i for s in SPLITS for i in split_ids[s]])
    write_mean_std(out, *_mean_std(out, split_ids["train"]))
    with open(out / "meta.jsonl", "w", encoding="utf-8") as handle:
        for entry in meta:
            handle.write(json.dumps(entry) + "\n")
    timings = {"motions_s": time.perf_counter() - started}
    pair_counts = None
    is_kit = open_dataset(out).kind == "kit"
    if options.pairs and not is_kit:  # PoseFix pairs need SMPL-22 poses
        tick = time.perf_counter()
        pair_counts = mine_dataset(out, options.pair_config, options.progress)
        timings["pairs_s"] = time.perf_counter() - tick
    tick = time.perf_counter()
    instruction_counts = instructions.write_instructions(out, options.instructions_per_motion, options.seed)
    timings["instructions_s"] = time.perf_counter() - tick
    timings["total_s"] = time.perf_counter() - started
    plausibility = None
    if checks:
        plausibility = {source: aggregate_plausibility(results) for source, results in checks.items()}
    report = stats.collect(out, meta, skipped, pair_counts, instruction_counts, timings, options, plausibility)
    stats.write(out, report)
    return report
