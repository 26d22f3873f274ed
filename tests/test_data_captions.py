"""Bandai labels -> captions, HumanML3D text lines, mirroring, and splits (no motion loading)."""

from __future__ import annotations

import re

import pytest

from engine.formats.humanml3d import parse_text_line
from trainer.data import bandai, captions, splits


@pytest.mark.parametrize("content", sorted(bandai.CONTENT_PHRASES))
@pytest.mark.parametrize("style", sorted(bandai.STYLE_PHRASES))
def test_captions_say_what_labels_say(content: str, style: str) -> None:
    texts = bandai.captions_for(content, style, count=4, seed=3)
    assert len(texts) == 4 and len(set(texts)) == 4
    side = "left" if "left" in content else "right" if "right" in content else None
    for text in texts:
        words = set(re.findall(r"[a-z\-]+", text))
        if side:
            assert side in words and ({"left", "right"} - {side}).isdisjoint(words), text
        else:
            assert not words & {"left", "right"}, text
        action = content.split("-")[0]
        assert any(
            w.startswith({"raise": "r", "wave": "wav", "walk": "walk", "run": "run"}[action])
            or (action == "raise" and w in {"lifts", "puts"})
            for w in words
        ), text
        if "both" in content:
            assert "both" in words
        if "turn" in content:
            assert "turn" in text
        # No invented speed, count or direction the labels do not give.
        assert words.isdisjoint({"forward", "backward", "fast", "slowly", "twice", "three", "circle"})
        assert not captions.unknown_words(text), f"words outside the tagger lexicon: {text}"


def test_captions_deterministic_and_seed_dependent() -> None:
    first = bandai.captions_for("wave-left-hand", "exhausted", count=3, seed=1)
    assert first == bandai.captions_for("wave-left-hand", "exhausted", count=3, seed=1)
    others = {tuple(bandai.captions_for("wave-left-hand", "exhausted", count=3, seed=s)) for s in range(6)}
    assert len(others) > 1


def test_mirror_text_swaps_sides_only() -> None:
    assert (
        captions.mirror_text("a person turns left, then raises the right hand")
        == "a person turns right, then raises the left hand"
    )
    assert captions.mirror_text("Left arm circles clockwise") == "Right arm circles counterclockwise"
    assert captions.mirror_text("a person leftover bright") == "a person leftover bright"


def test_text_line_round_trip() -> None:
    line = captions.text_line("someone waves the left hand in an exhausted way")
    annotation = parse_text_line(line)  # engine's HumanML3D reader parses what we write
    assert annotation.caption == "someone waves the left hand in an exhausted way"
    assert annotation.tokens[:3] == ("someone/PRON", "wave/VERB", "the/DET")
    assert "left/ADJ" in annotation.tokens and "hand/NOUN" in annotation.tokens
    assert annotation.whole_clip and line.count("#") == 3
    assert list(annotation.tokens) == captions.tokens(annotation.caption)


def test_splits_stratified_disjoint_deterministic() -> None:
    cells = {f"B{i:06d}": f"c{i % 7}/s{i % 5}" for i in range(350)}  # 35 cells x 10 clips
    first = splits.split_by_cell(cells, seed=5)
    assert first == splits.split_by_cell(dict(reversed(list(cells.items()))), seed=5)
    assert first != splits.split_by_cell(cells, seed=6)
    assert set(first) == set(cells)
    for cell in set(cells.values()):
        got = sorted(first[c] for c, k in cells.items() if k == cell)
        assert got.count("test") == 1 and got.count("val") == 1 and got.count("train") == 8
    small = splits.split_by_cell({f"V{i}": f"caption {i}" for i in range(20)}, seed=0)  # singleton cells
    assert sorted(small.values()).count("test") == 2 and sorted(small.values()).count("train") == 16
    with pytest.raises(ValueError, match="fractions"):
        splits.split_by_cell(cells, fractions=(0.5, 0.5, 0.5))


def test_label_files_json_and_csv(tmp_path) -> None:
    from engine.errors import InputError
    from trainer.data.sources import read_label_file

    (tmp_path / "a.json").write_text('{"clip1.bvh": "a person jumps", "clip2": ["someone sits", "a person sits down"]}')
    captions_by_file, cells = read_label_file(tmp_path / "a.json")
    assert captions_by_file == {"clip1.bvh": ["a person jumps"], "clip2": ["someone sits", "a person sits down"]}
    assert cells == {}
    (tmp_path / "b.csv").write_text("file,caption,cell\nx.bvh,a person jumps,jump\nx.bvh,someone hops,jump\n")
    captions_by_file, cells = read_label_file(tmp_path / "b.csv")
    assert captions_by_file == {"x.bvh": ["a person jumps", "someone hops"]} and cells == {"x.bvh": "jump"}
    (tmp_path / "c.csv").write_text("name,text\nx,y\n")
    with pytest.raises(InputError, match="'file' and 'caption'"):
        read_label_file(tmp_path / "c.csv")
    (tmp_path / "d.json").write_text("[1, 2]")
    with pytest.raises(InputError, match="JSON object"):
        read_label_file(tmp_path / "d.json")
