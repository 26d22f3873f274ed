"""Bandai-Namco dataset-1 labels -> captions an animator would type.

Dataset-1 (Kobayashi et al., "Motion Capture Dataset for Practical Use of AI-based Motion Editing
and Stylization", arXiv:2306.08861; github.com/BandaiNamcoResearchInc/Bandai-Namco-Research-
Motiondataset) has the layout of dataset-2 (cfg/*.txt labels with a `dataset-1_` prefix, a JSON
per clip with 0-based indices) but other labels: 17 contents (walk, dash, bow, guide, byebye, ...)
and 15 styles (chimpira, giant, musical, ...). Several label words are the dataset's own, not
words an animator types ("chimpira" is Japanese slang for a small-time thug, "guide" is an usher's
this-way gesture): what each label shows was read off the clips and is written down in
trainer/data/bandai_labels.md. The phrases below say that in plain English and never use the raw
label tokens; sides ("the right hand", "to the left") are said only where every clip of the label
measurably uses that side (mirrored clips get mirrored captions).

A caption is subject + verb phrase + style adverbial ("someone bows like a thug"), or a styled
subject + verb phrase ("an old person waves goodbye with both hands"); "normal" may add nothing.

Listing clips of either dataset: trainer.data.bandai.list_clips (it tells them apart by the
cfg/ label prefix). `python -m trainer.data.bandai DIR` prints one clip's captions per cell.
"""

from __future__ import annotations

import itertools
import random

LABEL_PREFIX = "dataset-1_"

SUBJECTS = ("a person", "someone", "the person", "a character")

# content label -> verb phrases (third person singular). See bandai_labels.md for what each shows.
CONTENT_PHRASES: dict[str, tuple[str, ...]] = {
    "walk": ("walks", "is walking", "walks forward", "walks straight ahead"),
    "run": ("runs", "is running", "runs forward", "runs straight ahead"),
    "dash": ("sprints", "dashes forward", "sprints forward", "runs at full speed", "breaks into a sprint"),
    "walk-back": ("walks backward", "walks backwards", "is walking backwards", "backs up step by step"),
    "walk-left": (
        "walks diagonally to the left",
        "walks forward and to the left",
        "walks toward the front left",
        "heads off diagonally to the left",
    ),
    "walk-right": (
        "walks diagonally to the right",
        "walks forward and to the right",
        "walks toward the front right",
        "heads off diagonally to the right",
    ),
    "bow": ("bows", "takes a bow", "bows from the waist", "gives a bow", "bends forward in a bow"),
    "bye": (
        "waves goodbye with the right hand",
        "waves bye with the right hand",
        "raises the right hand and waves goodbye",
        "says goodbye with a wave of the right hand",
    ),
    "byebye": (
        "waves goodbye with both hands",
        "waves both hands to say goodbye",
        "waves bye with both hands",
        "says goodbye waving both hands",
    ),
    "guide": (
        "points the way with the right hand",
        "holds out the right hand to show someone the way",
        "shows someone the way with the right hand",
        "gestures with the right hand to show the way",
    ),
    "respond": (
        "raises the left hand to answer",
        "puts the left hand up as if answering a question",
        "raises the left hand high like answering in class",
        "puts up the left hand to respond",
    ),
    "call": (
        "calls out to someone",
        "leans forward and calls out",
        "leans forward and shouts out",
        "shouts to get attention",
    ),
    "punch": ("punches", "throws punches", "punches the air", "is throwing punches"),
    "kick": ("kicks", "throws kicks", "is kicking", "kicks with the right leg"),
    "slash": (
        "slashes with a sword",
        "swings a sword",
        "slashes with an imaginary sword",
        "swings a sword with both hands",
    ),
    "dance-short": ("dances", "is dancing", "does a dance", "dances around"),
    "dance-long": ("dances", "is dancing", "does a long dance", "dances around"),
}

# style label -> (adverbials placed after the verb phrase, subjects that carry the style themselves).
STYLE_PHRASES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "normal": (("", "normally", "in a normal way", "in an ordinary way"), ()),
    "happy": (
        ("happily", "cheerfully", "joyfully", "in a happy mood", "with a happy look"),
        ("a happy person", "a cheerful person"),
    ),
    "sad": (("sadly", "gloomily", "dejectedly", "in a sad way", "looking sad"), ("a sad person",)),
    "angry": (("angrily", "furiously", "in an angry way", "looking angry"), ("an angry person", "a furious person")),
    "proud": (
        ("proudly", "with a proud posture", "proudly with the chest out", "with a proud air"),
        ("a proud person",),
    ),
    "not-confident": (
        ("timidly", "shyly", "hesitantly", "without confidence", "in an unsure, timid way"),
        ("a timid person", "a shy person"),
    ),
    "masculinity": (
        ("in a masculine way", "in a manly way", "with a masculine manner", "like a macho man"),
        ("a macho man",),
    ),
    "feminine": (
        ("in a feminine way", "in a feminine manner", "gracefully in a feminine style", "in a ladylike way"),
        (),
    ),
    "childish": (
        ("like a child", "childishly", "like a little kid", "in a childlike way", "playfully like a child"),
        ("a child", "a little kid"),
    ),
    "old": (
        ("like an old person", "like an elderly person", "like an old man", "in a frail, elderly way"),
        ("an old person", "an elderly person", "an old man"),
    ),
    "tired": (
        ("tiredly", "wearily", "as if exhausted", "in a tired way", "like someone worn out"),
        ("a tired person", "an exhausted person"),
    ),
    "active": (
        ("energetically", "actively", "in a lively way", "with lots of energy", "vigorously"),
        ("an energetic person",),
    ),
    "musical": (
        (
            "theatrically, like in a musical",
            "like a musical performer",
            "in a showy, theatrical way",
            "like an actor on a musical stage",
            "with theatrical flair",
        ),
        ("a musical performer",),
    ),  # fmt: skip
    "giant": (
        ("like a giant", "like a huge, heavy giant", "heavily, like a giant", "in a big, heavy way like a giant"),
        ("a giant", "a huge giant"),
    ),
    "chimpira": (
        (
            "like a thug",
            "swaggering like a thug",
            "like a street punk",
            "with a thuggish swagger",
            "like a small-time gangster",
        ),
        ("a thug", "a street punk"),
    ),  # fmt: skip
}

# Label tokens that are the dataset's own words, not plain English: never in a caption.
RAW_LABEL_TOKENS = ("chimpira", "not-confident", "masculinity", "byebye", "walk-back", "walk-left",
                    "walk-right", "dance-short", "dance-long")  # fmt: skip


def _forms(content: str, style: str) -> list[tuple[str, str, str]]:
    """Every (subject, verb phrase, adverbial) a caption of this cell can be made of."""
    verbs = CONTENT_PHRASES[content]
    adverbs, styled_subjects = STYLE_PHRASES[style]
    plain = list(itertools.product(SUBJECTS, verbs, adverbs))
    styled = list(itertools.product(styled_subjects, verbs, ("",)))
    return plain + styled


def all_captions(content: str, style: str) -> list[str]:
    """Every caption captions_for can write for the cell (for leak checks)."""
    return [" ".join(" ".join(parts).split()) for parts in _forms(content, style)]


def captions_for(content: str, style: str, count: int = 3, seed: int | str = 0) -> list[str]:
    """`count` distinct captions for a dataset-1 content x style cell, chosen deterministically
    from `seed` (the builder passes seed/clip/segment so segments differ); same greedy
    least-overlap choice as trainer.data.bandai.captions_for."""
    rng = random.Random(f"{seed}/{content}/{style}")
    combos = _forms(content, style)
    rng.shuffle(combos)
    picked: list[tuple[str, str, str]] = []
    while combos and len(picked) < count:
        best = min(combos, key=lambda c: sum(a == b for p in picked for a, b in zip(c, p)))
        picked.append(best)
        combos.remove(best)
    return [" ".join(" ".join(parts).split()) for parts in picked]
