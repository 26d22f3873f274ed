"""Bandai-Namco dataset-1: plain-English captions, segments, splits by clip, and a small mixed build
(real clips from ../shared/data; skipped when absent)."""

from __future__ import annotations

import json
import os
import re
import shutil
import time
from pathlib import Path

import numpy as np
import pytest

from engine.formats.humanml3d import open_dataset
from trainer.cli import main
from trainer.data import bandai, bandai1, captions, segments, splits
from trainer.data.sources import bandai_source

ROOT = Path(__file__).resolve().parents[1]


def shared_data_root() -> Path:
    """As tests/conftest.py: ../shared/data from the project root, or MOTION_COPILOT_DATA."""
    return Path(os.environ.get("MOTION_COPILOT_DATA", ROOT.parent / "shared" / "data"))


@pytest.fixture(scope="module")
def bandai1_dir() -> Path:
    path = shared_data_root() / "bandai-namco-1"
    if not (path / "data").is_dir():
        pytest.skip(f"Bandai dataset-1 not found at {path}; set MOTION_COPILOT_DATA to the shared data folder")
    return path


# The side every clip of a content uses (measured, bandai_labels.md); a mirror's caption swaps it.
SIDES = {"walk-left": "left", "walk-right": "right", "respond": "left", "guide": "right", "bye": "right"}
SIDES["kick"] = "right"


def _words(text: str) -> set[str]:
    return set(re.findall(r"[a-z\-']+", text.lower()))


@pytest.mark.parametrize("content", sorted(bandai1.CONTENT_PHRASES))
def test_captions_are_plain_words(content: str) -> None:
    for style in bandai1.STYLE_PHRASES:
        texts = bandai1.captions_for(content, style, count=4, seed=3)
        assert len(set(texts)) == 4
        for text in bandai1.all_captions(content, style):
            words = _words(text)
            assert words.isdisjoint(bandai1.RAW_LABEL_TOKENS), text
            assert not captions.unknown_words(text), f"words outside the tagger lexicon: {text}"
            side = SIDES.get(content)
            if side:  # the side every clip of the label uses (bandai_labels.md); mirrors swap it
                assert ({"left", "right"} - {side}).isdisjoint(words), text
            else:
                assert words.isdisjoint({"left", "right"}), text
            if style != "normal":  # the style is said, once
                adverbs, subjects = bandai1.STYLE_PHRASES[style]
                assert sum(p in text for p in adverbs + subjects if p) >= 1, text


def test_segments_cover_long_clips_only() -> None:
    rng = np.random.default_rng(0)
    short = rng.normal(size=(196, 22, 3)).cumsum(axis=0)
    assert segments.segment_bounds(short) == [(0, 196)]
    long = rng.normal(size=(1267, 22, 3)).cumsum(axis=0)  # the 63 s dance
    bounds = segments.segment_bounds(long)
    assert bounds[0][0] == 0 and bounds[-1][1] == 1267 and len(bounds) == 15
    for (s0, e0), (s1, _) in zip(bounds, bounds[1:]):
        assert e0 - s0 == 160 and s0 < s1 < e0  # 8 s windows that overlap: nothing is skipped


def test_labels_and_split_by_clip(bandai1_dir: Path) -> None:
    clips = bandai.list_clips(bandai1_dir)
    assert bandai.dataset_of(bandai1_dir) == 1 and len(clips) == 119
    contents = {c.content for c in clips}
    assert contents == set(bandai1.CONTENT_PHRASES) - {"dance-long"}
    source = bandai_source(bandai1_dir)
    by_content = {c: sum(clip.content == c for clip in clips) for c in contents}
    assert source.train_cells == {f"dataset-1/{c}" for c, n in by_content.items() if n < 3}
    cells = {clip.bvh_path.stem: f"dataset-1/{clip.content}" for clip in clips}
    assignment = splits.split_by_cell(cells, seed=0, train_cells=source.train_cells)
    for content, count in by_content.items():
        got = {assignment[s] for s, c in cells.items() if c == f"dataset-1/{content}"}
        assert "train" in got, content  # every content is trained on
        if count >= splits.MIN_SPLIT_CLIPS:
            assert got == {"train", "val", "test"}, content


@pytest.fixture(scope="module")
def mini_both(bandai1_dir: Path, bandai_dir: Path, tmp_path_factory) -> tuple[Path, Path]:
    """Dataset-1 and dataset-2 folders holding a few real clips (symlinks) and the real cfg/."""
    picks = {
        bandai1_dir: [f"dataset-1_{n}" for n in ("walk_sad_001", "walk_sad_002", "walk_happy_001", "walk_tired_001",
                                                 "slash_normal_001", "bye_happy_001", "bye_old_001")],
        bandai_dir: [f"dataset-2_wave-left-hand_active_{n:03d}" for n in (1, 2, 3)],
    }  # fmt: skip
    folders = []
    for folder, stems in picks.items():
        root = tmp_path_factory.mktemp(folder.name)
        shutil.copytree(folder / "cfg", root / "cfg")
        (root / "data").mkdir()
        for stem in stems:
            for suffix in (".bvh", ".json"):
                (root / "data" / f"{stem}{suffix}").symlink_to(folder / "data" / f"{stem}{suffix}")
        folders.append(root)
    return folders[0], folders[1]


def test_small_mixed_build(mini_both: tuple[Path, Path], tmp_path: Path) -> None:
    d1, d2 = mini_both
    out = tmp_path / "data"
    started = time.perf_counter()
    args = ["data", "--out", str(out), "--bandai", str(d2), "--bandai", str(d1), "--procedural", "6"]
    code = main([*args, "--limit-per-cell", "1", "--pose-set", "200", "--seed", "3", "--quiet"])
    seconds = time.perf_counter() - started
    assert code == 0 and seconds < 60, seconds
    meta = [json.loads(line) for line in (out / "meta.jsonl").read_text().splitlines()]
    sources = {m["source"] for m in meta}
    assert sources == {"bandai", "bandai1", "procedural"}
    d1_meta = [m for m in meta if m["source"] == "bandai1"]
    # --limit-per-cell 1: walk_sad_002 is dropped; slash (13.4 s) is cut into overlapping segments.
    assert {m["origin"] for m in d1_meta} == {
        f"dataset-1_{n}.bvh" for n in ("walk_sad_001", "walk_happy_001", "walk_tired_001", "slash_normal_001",
                                       "bye_happy_001", "bye_old_001")
    }  # fmt: skip
    slash = [m for m in d1_meta if "slash" in m["origin"] and "mirror_of" not in m]
    assert len(slash) == 3 and all(m["frames"] == 159 for m in slash)  # 160-frame windows -> 159 features
    data = open_dataset(out)
    split_of = {i: s for s in ("train", "val", "test") for i in data.ids(s)}
    for entry in meta:  # a clip, its segments and all their mirrors in one split
        if "group" in entry:
            same = {split_of[m["id"]] for m in meta if m.get("group") == entry["group"]}
            assert len(same) == 1, entry["group"]
        if "mirror_of" in entry:
            assert split_of[entry["id"]] == split_of[entry["mirror_of"]]
    for entry in d1_meta:
        for text in data.texts(entry["id"]):
            assert _words(text.caption).isdisjoint(bandai1.RAW_LABEL_TOKENS)
            if "bye" in entry["origin"]:  # bye uses the right hand; its mirror the left
                side = "left" if "mirror_of" in entry else "right"
                assert side in _words(text.caption) and "bye" in text.caption, text.caption
    # Dataset-2 captions are unchanged by dataset-1 support.
    b = next(m for m in meta if m["source"] == "bandai" and "mirror_of" not in m)
    stem = Path(b["origin"]).stem
    expected = bandai.captions_for("wave-left-hand", "active", 3, f"3/{stem}")
    assert [t.caption for t in data.texts(b["id"])] == expected
