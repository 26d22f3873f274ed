"""Bandai-Namco dataset-2 labels -> captions.

Each clip has one content label (walk, walk-turn-left, ..., raise-up-right-hand) and one style
label (active, elderly, ..., youthful), in `cfg/content_label.txt`, `cfg/style_label.txt` and a
JSON per clip holding 0-based indices into them. Captions are built from hand-written phrases per
label: they say what the labels say and nothing more (no speeds, counts, directions or body parts
the label does not name; "walk" is never "walks forward"; "walk-turn-left" is "walks and turns
left", never which foot or how far). The style is an adverbial ("in an exhausted way") or nothing
for "normal" some of the time, since a normal-style clip is just the plain action.

Dataset-1 folders (same layout, `dataset-1_` labels) are listed here too; their captions come
from trainer.data.bandai1 (`clip_captions` picks the right builder).

Run: `python -m trainer.data.bandai DATA_DIR` prints the captions of the first clip of each cell.
"""

from __future__ import annotations

import itertools
import json
import random
import sys
from dataclasses import dataclass
from pathlib import Path

from engine.errors import InputError
from trainer.data import bandai1

LABEL_PREFIX = "dataset-2_"  # every label in cfg/*.txt starts with this; captions drop it
PREFIXES = {2: LABEL_PREFIX, 1: bandai1.LABEL_PREFIX}

SUBJECTS = ("a person", "someone", "the person", "a human")

# content label -> verb phrases (third person singular, present simple or progressive).
CONTENT_PHRASES: dict[str, tuple[str, ...]] = {
    "walk": ("walks", "is walking", "takes a walk", "goes for a walk"),
    "walk-turn-left": (
        "walks and turns left",
        "walks and turns to the left",
        "is walking and turns left",
        "walks and makes a left turn",
    ),
    "walk-turn-right": (
        "walks and turns right",
        "walks and turns to the right",
        "is walking and turns right",
        "walks and makes a right turn",
    ),
    "run": ("runs", "is running", "goes for a run"),
    "wave-both-hands": (
        "waves both hands",
        "waves with both hands",
        "is waving both hands",
        "waves both of their hands",
    ),
    "wave-left-hand": (
        "waves the left hand",
        "waves with the left hand",
        "is waving the left hand",
        "waves their left hand",
    ),
    "wave-right-hand": (
        "waves the right hand",
        "waves with the right hand",
        "is waving the right hand",
        "waves their right hand",
    ),
    "raise-up-both-hands": (
        "raises both hands",
        "raises both hands up",
        "lifts both hands up",
        "is raising both hands",
        "puts both hands up",
    ),
    "raise-up-left-hand": (
        "raises the left hand",
        "raises the left hand up",
        "lifts the left hand up",
        "is raising the left hand",
        "puts the left hand up",
    ),
    "raise-up-right-hand": (
        "raises the right hand",
        "raises the right hand up",
        "lifts the right hand up",
        "is raising the right hand",
        "puts the right hand up",
    ),
}

# style label -> adverbials placed after the verb phrase. "normal" also allows no adverbial.
STYLE_PHRASES: dict[str, tuple[str, ...]] = {
    "active": ("in an active way", "energetically", "actively", "with energy", "in a lively way"),
    "elderly": (
        "in an elderly way",
        "like an elderly person",
        "like an old person",
        "in the manner of an elderly person",
    ),
    "exhausted": ("in an exhausted way", "wearily", "as if exhausted", "tiredly", "like someone worn-out"),
    "feminine": ("in a feminine way", "in a feminine style", "with a feminine manner"),
    "masculine": ("in a masculine way", "in a masculine style", "with a masculine manner"),
    "normal": ("", "in a normal way", "normally", "in an ordinary way"),
    "youthful": ("in a youthful way", "youthfully", "like a young person", "in a youthful style"),
}


@dataclass(frozen=True)
class BandaiClip:
    """One labelled clip: its BVH path, content and style labels (without the prefix)."""

    bvh_path: Path
    content: str
    style: str
    dataset: int = 2  # which Bandai-Namco dataset (1 or 2)

    @property
    def cell(self) -> str:
        """The content x style cell, e.g. 'wave-left-hand/exhausted'."""
        return f"{self.content}/{self.style}"


def _raw_labels(path: Path) -> list[str]:
    if not path.is_file():
        raise InputError(f"Bandai label file {path} is missing; pass the dataset folder that holds cfg/.")
    return [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def dataset_of(bandai_dir: Path) -> int:
    """1 or 2: which Bandai-Namco dataset a folder holds, from its cfg/ label prefix (no prefix: 2)."""
    labels = _raw_labels(Path(bandai_dir) / "cfg" / "content_label.txt")
    return 1 if labels and labels[0].startswith(bandai1.LABEL_PREFIX) else 2


def _read_labels(path: Path, prefix: str = LABEL_PREFIX) -> list[str]:
    return [label[len(prefix) :] if label.startswith(prefix) else label for label in _raw_labels(path)]


def phrase_tables(dataset: int) -> tuple[dict, dict]:
    """(content phrases, style phrases) of a dataset: the labels it can caption."""
    return (CONTENT_PHRASES, STYLE_PHRASES) if dataset == 2 else (bandai1.CONTENT_PHRASES, bandai1.STYLE_PHRASES)


def list_clips(bandai_dir: Path, limit_per_cell: int | None = None) -> list[BandaiClip]:
    """All labelled clips of a Bandai-Namco dataset-2 (or dataset-1) folder, sorted by file name.

    Labels come from each clip's JSON (indices into cfg/*.txt); a clip whose JSON is missing or
    names an unknown label raises InputError. `limit_per_cell` keeps the first N clips per cell
    (tests use it for a fast subset).
    """
    bandai_dir = Path(bandai_dir)
    dataset = dataset_of(bandai_dir)
    prefix = PREFIXES[dataset]
    content_phrases, style_phrases = phrase_tables(dataset)
    contents = _read_labels(bandai_dir / "cfg" / "content_label.txt", prefix)
    styles = _read_labels(bandai_dir / "cfg" / "style_label.txt", prefix)
    bvh_files = sorted((bandai_dir / "data").glob("*.bvh"))
    if not bvh_files:
        raise InputError(f"no .bvh files in {bandai_dir / 'data'}; pass a Bandai dataset-1 or dataset-2 folder.")
    clips, per_cell = [], {}
    for bvh in bvh_files:
        label_path = bvh.with_suffix(".json")
        try:
            label = json.loads(label_path.read_text(encoding="utf-8"))
            content, style = contents[int(label["content"])], styles[int(label["style"])]
        except (OSError, ValueError, KeyError, IndexError, TypeError) as error:
            raise InputError(
                f"label file {label_path} is missing or invalid ({error}); it must hold "
                '{"content": i, "style": j} indexing cfg/*.txt.'
            ) from None
        if content not in content_phrases or style not in style_phrases:
            raise InputError(
                f"{label_path}: no caption phrases for content {content!r} / style "
                f"{style!r}; add them to trainer/data/{'bandai' if dataset == 2 else 'bandai1'}.py."
            )
        clip = BandaiClip(bvh, content, style, dataset)
        per_cell[clip.cell] = per_cell.get(clip.cell, 0) + 1
        if limit_per_cell is None or per_cell[clip.cell] <= limit_per_cell:
            clips.append(clip)
    return clips


def captions_for(content: str, style: str, count: int = 3, seed: int | str = 0) -> list[str]:
    """`count` distinct captions for a content x style pair, chosen deterministically from `seed`
    (the dataset builder passes seed/clip name, so clips of one cell get different captions).

    Every caption is subject + content phrase (+ style adverbial), e.g.
    "someone waves the left hand in an exhausted way".
    """
    rng = random.Random(f"{seed}/{content}/{style}")
    verbs, subjects = list(CONTENT_PHRASES[content]), list(SUBJECTS)
    adverbs = list(STYLE_PHRASES[style])
    for options in (verbs, subjects, adverbs):
        rng.shuffle(options)
    combos = list(itertools.product(subjects, verbs, adverbs))
    picked: list[tuple[str, str, str]] = []
    # Greedy: each next caption shares as few phrases as possible with those already picked, so
    # the captions of one clip are not near-duplicates; ties keep the seeded shuffle order.
    while combos and len(picked) < count:
        best = min(combos, key=lambda c: sum(a == b for p in picked for a, b in zip(c, p)))
        picked.append(best)
        combos.remove(best)
    captions = [" ".join(" ".join(parts).split()) for parts in picked]
    return captions


def clip_captions(clip: BandaiClip, count: int = 3, seed: int | str = 0) -> list[str]:
    """Captions of a clip of either dataset (dataset-2: captions_for above, unchanged)."""
    if clip.dataset == 1:
        return bandai1.captions_for(clip.content, clip.style, count, seed)
    return captions_for(clip.content, clip.style, count, seed)


if __name__ == "__main__":
    seen = set()
    for clip in list_clips(Path(sys.argv[1])):
        if clip.cell not in seen:
            seen.add(clip.cell)
            print(clip.cell, clip_captions(clip))
