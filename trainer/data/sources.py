"""Motion sources for `motion-train data`: each yields canonical motions with captions.

Every source gives `SourceMotion`s: positions `(T, 22, 3)` float32 metres, 20 fps, canonical
(engine.formats.canonical), a list of captions, and a stratification cell for the splits. Sources:
- Bandai-Namco dataset-2 (labels -> captions, trainer.data.bandai) and dataset-1 (trainer.data.bandai1;
  its long clips cut into segments by trainer.data.segments);
- any folder of BVH files (or AMASS .npz files) with a label file mapping file -> caption(s);
- the procedural generator (trainer.data.procedural, when present).
HumanML3D/KIT-ML folders are copied rather than converted (trainer.data.build).

Label files: JSON `{"file name or stem": "caption" | ["caption", ...]}` or CSV with a header
holding `file` and `caption` columns (one row per caption; an optional `cell` column groups
clips for the stratified split; without it all clips of the source share one cell).
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from engine.errors import InputError
from engine.formats.canonical import load_motion
from trainer.data import bandai
from trainer.data.procedural import generate_procedural
from trainer.data.segments import segment_bounds
from trainer.data.splits import MIN_SPLIT_CLIPS


@dataclass
class SourceMotion:
    """One motion to write: canonical positions `(T, 22, 3)` float32 m 20 fps, and its text."""

    name: str  # output id, e.g. 'B000012' (the mirror becomes 'MB000012')
    positions: np.ndarray
    captions: list[str]
    cell: str  # stratification cell for the split
    source: str  # 'bandai', 'bvh', 'amass', 'procedural'
    origin: str  # file or generator parameters it came from
    labels: dict = field(default_factory=dict)
    group: str = ""  # the source clip the split keeps together (its segments); "" = this motion alone


@dataclass
class Source:
    """A sized, lazy stream of motions (the size feeds the progress bar)."""

    name: str
    count: int  # clips (a segmented clip counts once; the progress bar counts clips)
    motions: Iterator[SourceMotion]
    train_cells: frozenset[str] = frozenset()  # split cells too small to hold out: all in train


def bandai_source(
    bandai_dir: Path, captions_per_clip: int = 3, seed: int = 0, limit_per_cell: int | None = None
) -> Source:
    """A Bandai-Namco folder, dataset-2 or dataset-1 (told apart by its cfg/ labels); captions from
    content x style labels.

    Dataset-2 (source 'bandai', ids B000000...): one motion per clip, split cell content/style.
    Dataset-1 (source 'bandai1', ids D000000... numbered over segments): clips longer than 9.8 s
    are cut into segments (trainer.data.segments), each with its own captions and `group` = the
    clip's file stem, so a clip, its segments and their mirrors share a split. Its split cell is
    the content alone (one clip per content x style): contents with at least MIN_SPLIT_CLIPS
    clips put at least one clip in each split; rarer contents (call, punch, kick, ... recorded
    once or twice) go to train only (`train_cells`), so every content is trained on.
    """
    bandai_dir = Path(bandai_dir)
    clips = bandai.list_clips(bandai_dir, limit_per_cell)
    if not clips or clips[0].dataset == 2:
        return Source("bandai", len(clips), _bandai2_motions(clips, captions_per_clip, seed))
    per_content: dict[str, int] = {}
    for clip in clips:
        per_content[clip.content] = per_content.get(clip.content, 0) + 1
    small = frozenset(_bandai1_cell(c) for c, n in per_content.items() if n < MIN_SPLIT_CLIPS)
    return Source("bandai1", len(clips), _bandai1_motions(clips, captions_per_clip, seed), small)


def _bandai1_cell(content: str) -> str:
    return f"dataset-1/{content}"


def _bandai2_motions(clips: list[bandai.BandaiClip], captions_per_clip: int, seed: int) -> Iterator[SourceMotion]:
    for i, clip in enumerate(clips):
        motion = load_motion(clip.bvh_path, preset="bandai")
        yield SourceMotion(
            f"B{i:06d}",
            motion.positions.astype(np.float32),
            bandai.captions_for(clip.content, clip.style, captions_per_clip, f"{seed}/{clip.bvh_path.stem}"),
            clip.cell,
            "bandai",
            clip.bvh_path.name,
            {"content": clip.content, "style": clip.style},
        )


def _bandai1_motions(clips: list[bandai.BandaiClip], captions_per_clip: int, seed: int) -> Iterator[SourceMotion]:
    index = 0
    for clip in clips:
        positions = load_motion(clip.bvh_path, preset="bandai").positions.astype(np.float32)
        bounds = segment_bounds(positions)
        for k, (start, end) in enumerate(bounds):
            tag = clip.bvh_path.stem if len(bounds) == 1 else f"{clip.bvh_path.stem}/{k}"
            labels = {"content": clip.content, "style": clip.style}
            if len(bounds) > 1:
                labels["segment"] = [start, end]  # frames at 20 fps in the clip
            yield SourceMotion(
                f"D{index:06d}",
                positions[start:end],
                bandai.clip_captions(clip, captions_per_clip, f"{seed}/{tag}"),
                _bandai1_cell(clip.content),
                "bandai1",
                clip.bvh_path.name,
                labels,
                group=clip.bvh_path.stem,
            )
            index += 1


def read_label_file(path: Path) -> tuple[dict[str, list[str]], dict[str, str]]:
    """Captions and cells per file key (name and stem both work) from a JSON or CSV label file."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"label file {path} not found; pass a JSON or CSV file mapping file -> caption(s).")
    captions: dict[str, list[str]] = {}
    cells: dict[str, str] = {}
    if path.suffix.lower() == ".json":
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except ValueError as error:
            raise InputError(f"label file {path} is not valid JSON ({error}).") from None
        if not isinstance(data, dict):
            raise InputError(f"label file {path} must hold a JSON object mapping file -> caption(s).")
        for key, value in data.items():
            captions[key] = [value] if isinstance(value, str) else [str(v) for v in value]
    else:
        with open(path, newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            if not reader.fieldnames or not {"file", "caption"} <= set(reader.fieldnames):
                raise InputError(
                    f"label file {path} needs a CSV header with 'file' and 'caption' "
                    f"columns, found {reader.fieldnames}."
                )
            for row in reader:
                captions.setdefault(row["file"], []).append(row["caption"])
                if row.get("cell"):
                    cells[row["file"]] = row["cell"]
    return captions, cells


def _lookup(table: dict, path: Path, root: Path):
    for key in (str(path.relative_to(root)), path.name, path.stem):
        if key in table:
            return table[key]
    return None


def files_source(
    folder: Path,
    labels_file: Path | None,
    pattern: str,
    kind: str,
    prefix: str,
    preset: str | None = None,
    body_model: Path | None = None,
) -> Source:
    """Motion files under `folder` (recursive `pattern`) with captions from a label file.

    A file with no entry in the label file is still used (motion-only data, e.g. for the
    tokenizer) with no captions. Without a `cell` column every clip's cell is the source kind.
    """
    folder = Path(folder)
    files = sorted(folder.rglob(pattern))
    if not files:
        raise InputError(f"no {pattern} files under {folder}.")
    captions, cells = read_label_file(labels_file) if labels_file else ({}, {})

    def motions() -> Iterator[SourceMotion]:
        for i, path in enumerate(files):
            motion = load_motion(path, preset=preset, body_model=body_model)
            texts = _lookup(captions, path, folder) or []
            cell = _lookup(cells, path, folder) or kind
            yield SourceMotion(
                f"{prefix}{i:06d}",
                motion.positions.astype(np.float32),
                list(texts),
                cell,
                kind,
                str(path.relative_to(folder)),
            )

    return Source(kind, len(files), motions())


def procedural_source(count: int, seed: int = 0) -> Source:
    """`count` procedural motions from trainer.data.procedural.generate_procedural."""

    def motions() -> Iterator[SourceMotion]:
        for i, (positions, texts, params) in enumerate(generate_procedural(count, seed)):
            kind = str(params.get("kind", params.get("name", "procedural")))
            yield SourceMotion(
                f"P{i:06d}",
                np.asarray(positions, dtype=np.float32),
                list(texts),
                kind,
                "procedural",
                kind,
                {k: v for k, v in params.items() if _jsonable(v)},
            )

    return Source("procedural", count, motions())


def _jsonable(value) -> bool:
    try:
        json.dumps(value)
        return True
    except (TypeError, ValueError):
        return False
