"""`motion-train data` end to end on 21 real Bandai clips, read back with the HumanML3D reader."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from engine.errors import InputError
from engine.formats.humanml3d import open_dataset
from trainer.cli import main
from trainer.data import splits

# 7 content x style cells x 3 clips: every content kind that has a side, plus both turns.
CELLS = (
    ("wave-left-hand", "exhausted"),
    ("wave-left-hand", "active"),
    ("walk-turn-left", "normal"),
    ("walk-turn-right", "elderly"),
    ("raise-up-right-hand", "youthful"),
    ("run", "feminine"),
    ("wave-both-hands", "masculine"),
)


@pytest.fixture(scope="module")
def mini_bandai(bandai_dir: Path, tmp_path_factory) -> Path:
    """A Bandai-layout folder holding 21 of the real clips (symlinks) and the real cfg/."""
    root = tmp_path_factory.mktemp("bandai_mini")
    shutil.copytree(bandai_dir / "cfg", root / "cfg")
    (root / "data").mkdir()
    for content, style in CELLS:
        for n in (1, 2, 3):
            stem = f"dataset-2_{content}_{style}_{n:03d}"
            for suffix in (".bvh", ".json"):
                (root / "data" / f"{stem}{suffix}").symlink_to(bandai_dir / "data" / f"{stem}{suffix}")
    return root


@pytest.fixture(scope="module")
def built(mini_bandai: Path, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("built") / "data"
    code = main(
        ["data", "--out", str(out), "--bandai", str(mini_bandai), "--seed", "7", "--pose-set", "300", "--quiet"]
    )
    assert code == 0
    return out


def _meta(out: Path) -> dict[str, dict]:
    return {m["id"]: m for m in map(json.loads, (out / "meta.jsonl").read_text().splitlines())}


def test_layout_reads_back(built: Path) -> None:
    data = open_dataset(built)
    assert data.kind == "humanml3d"
    ids = data.ids("all")
    assert len(ids) == 42 and len(set(ids)) == 42
    mean, std = data.mean_std()
    assert mean.shape == std.shape == (263,) and np.all(std > 0)
    train_feats = np.concatenate([data.features(i) for i in data.ids("train")])
    np.testing.assert_allclose(mean, train_feats.mean(axis=0), atol=1e-4)  # train only
    for motion_id in ids:
        feats, joints = data.features(motion_id), data.joints(motion_id)
        assert feats.shape[1] == 263 and joints.shape == (len(feats), 22, 3)
        texts = data.texts(motion_id)
        assert len(texts) == 3 and all(t.whole_clip and t.tokens for t in texts)


def test_captions_agree_with_labels_and_motion(built: Path) -> None:
    data, meta = open_dataset(built), _meta(built)
    checked = 0
    for motion_id, entry in meta.items():
        if entry["labels"]["content"] != "wave-left-hand" or "mirror_of" in entry:
            continue
        for clip_id, side, other in ((motion_id, "left", "right"), ("M" + motion_id, "right", "left")):
            for text in data.texts(clip_id):
                words = text.caption.split()
                assert side in words and other not in words and any(w.startswith("wav") for w in words), text
            # The waving hand is the one that goes up: the caption's side is the motion's side.
            joints = data.joints(clip_id)
            assert (
                joints[:, 20 if side == "left" else 21, 1].max()
                > joints[:, 21 if side == "left" else 20, 1].max() + 0.2
            )
        checked += 1
    assert checked == 6
    from engine.describe.joints import heading_angle  # positive = turned to the body's left

    turned = 0
    for motion_id, entry in meta.items():
        content = entry["labels"]["content"]
        if not content.startswith("walk-turn"):
            continue
        side = content.rsplit("-", 1)[1]  # a mirror's label is mirrored too ("walk-turn-left" -> "-right")
        if "mirror_of" in entry:
            original = meta[entry["mirror_of"]]["labels"]["content"].rsplit("-", 1)[1]
            assert side == {"left": "right", "right": "left"}[original]
        for text in data.texts(motion_id):
            assert side in text.caption.split() and "turn" in text.caption, text
        yaw = heading_angle(data.joints(motion_id).astype(np.float64))
        change = np.degrees(np.angle(np.exp(1j * (yaw[-1] - yaw[0]))))
        assert (change > 30) if side == "left" else (change < -30), (motion_id, side, change)
        turned += 1
    assert turned == 12


def test_splits_disjoint_stratified_deterministic(built: Path, mini_bandai: Path, tmp_path: Path) -> None:
    data, meta = open_dataset(built), _meta(built)
    sets = {s: set(data.ids(s)) for s in ("train", "val", "test")}
    assert not (sets["train"] & sets["val"] or sets["train"] & sets["test"] or sets["val"] & sets["test"])
    assert set().union(*sets.values()) == set(data.ids("all"))
    for ids in sets.values():
        assert all(("M" + i if not i.startswith("M") else i[1:]) in ids for i in ids), "mirror split apart"
    assert {meta[i]["cell"] for i in sets["test"]} == {f"{c}/{s}" for c, s in CELLS}
    expected = splits.split_by_cell({i: m["cell"] for i, m in meta.items() if "mirror_of" not in m}, seed=7)
    assert all(i in sets[s] for i, s in expected.items())
    again = tmp_path / "again"
    assert (
        main(["data", "--out", str(again), "--bandai", str(mini_bandai), "--seed", "7", "--no-pairs", "--quiet"]) == 0
    )
    for split in ("train", "val", "test"):
        assert (again / f"{split}.txt").read_text() == (built / f"{split}.txt").read_text()
    assert (again / "texts" / "B000004.txt").read_text() == (built / "texts" / "B000004.txt").read_text()
    np.testing.assert_array_equal(np.load(again / "Mean.npy"), np.load(built / "Mean.npy"))


def test_pairs_instructions_and_stats(built: Path) -> None:
    report = json.loads((built / "stats.json").read_text())
    assert report["clips"] == 42 and report["clips_without_mirrors"] == 21
    assert report["cells_in_test"] == 7 and report["vocabulary_size"] > 20
    frames = sum(open_dataset(built).features(i).shape[0] for i in open_dataset(built).ids("all"))
    assert report["frames"] == frames and abs(report["hours"] - frames / 20 / 3600) < 1e-3
    assert "Plausibility" in (built / "stats.md").read_text() or report["plausibility"] is None
    split_of = {i: s for s in ("train", "val", "test") for i in open_dataset(built).ids(s)}
    for split in ("train", "val", "test"):
        with np.load(built / "pairs" / f"pairs_{split}.npz", allow_pickle=False) as pairs:
            n = len(pairs["kind"])
            assert n == sum(report["pairs"][split].values()) and pairs["pose_a"].shape == (n, 22, 3)
            assert all(split_of[i.split(":")[0]] == split for i in list(pairs["id_a"]) + list(pairs["id_b"]))
        lines = (built / "pairs" / f"pairs_{split}.jsonl").read_text().splitlines()
        assert len(lines) == n and all(json.loads(line)["text"] for line in lines)
        examples = [json.loads(line) for line in (built / "instructions" / f"{split}.jsonl").read_text().splitlines()]
        assert len(examples) == report["instructions"][split] == 4 * len(open_dataset(built).ids(split))
        assert all(split_of[e["motion_id"]] == split for e in examples)


def test_bvh_folder_with_csv_labels(bandai_clips: list[Path], tmp_path: Path, capsys) -> None:
    folder = tmp_path / "mine"
    folder.mkdir()
    for clip in bandai_clips[:3]:
        (folder / clip.name).symlink_to(clip)
    labels = tmp_path / "labels.csv"
    labels.write_text(
        "file,caption\n"
        + "".join(
            f"{c.stem},a person does move number {i}\n{c.stem},someone turns left\n"
            for i, c in enumerate(bandai_clips[:2])
        )
    )
    out = tmp_path / "out"
    assert (
        main(["data", "--out", str(out), "--bvh-dir", str(folder), "--labels", str(labels), "--no-pairs", "--quiet"])
        == 0
    )
    data = open_dataset(out)
    assert sorted(data.ids("all")) == ["MV000000", "MV000001", "MV000002", "V000000", "V000001", "V000002"]
    assert [t.caption for t in data.texts("MV000001")] == ["a person does move number 1", "someone turns right"]
    assert data.texts("V000002") == []  # unlabelled: motion-only
    capsys.readouterr()
    assert main(["data", "--out", str(out), "--bvh-dir", str(folder), "--quiet"]) == 2
    assert "already holds a dataset" in capsys.readouterr().err
    assert main(["data", "--out", str(tmp_path / "none")]) == 2
    assert "no data source given" in capsys.readouterr().err
    with pytest.raises(InputError, match="labels.json not found"):
        from trainer.data.sources import read_label_file

        read_label_file(tmp_path / "labels.json")


def test_procedural_source_mixes_in(tmp_path: Path) -> None:
    from trainer.data.captions import mirror_text

    out = tmp_path / "proc"
    assert main(["data", "--out", str(out), "--procedural", "12", "--seed", "3", "--no-pairs", "--quiet"]) == 0
    data, meta = open_dataset(out), _meta(out)
    assert sorted(i for i in data.ids("all") if not i.startswith("M")) == [f"P{i:06d}" for i in range(12)]
    for motion_id, entry in meta.items():
        if "mirror_of" in entry:
            base = [t.caption for t in data.texts(entry["mirror_of"])]
            assert [t.caption for t in data.texts(motion_id)] == [mirror_text(c) for c in base]
            original = meta[entry["mirror_of"]]["labels"]  # labels follow the mirror: side left <-> right
            assert entry["labels"] == {k: mirror_text(v) if isinstance(v, str) else v for k, v in original.items()}
            if original.get("side") in ("left", "right"):
                assert entry["labels"]["side"] != original["side"]
        else:
            assert entry["source"] == "procedural" and entry["labels"]["kind"] == entry["cell"]
    report = json.loads((out / "stats.json").read_text())
    assert report["sources"]["procedural"]["clips"] == 24
    assert report["plausibility"]["procedural"]["samples"] == 12


def test_humanml3d_folder_passes_through_and_merges(built: Path, tmp_path: Path) -> None:
    out = tmp_path / "merged"
    assert (
        main(["data", "--out", str(out), "--humanml3d", str(built), "--procedural", "4", "--no-pairs", "--quiet"]) == 0
    )
    source, merged = open_dataset(built), open_dataset(out)
    for split in ("train", "val", "test"):
        ids = set(merged.ids(split))
        assert set(source.ids(split)) <= ids  # its own splits are kept
        assert {i for i in ids if i.lstrip("M").startswith("P")} | set(source.ids(split)) == ids
    for motion_id in source.ids("all")[:5]:
        np.testing.assert_array_equal(merged.features(motion_id), source.features(motion_id))
        assert merged.texts(motion_id) == source.texts(motion_id)
    train = np.concatenate([merged.features(i) for i in merged.ids("train")])
    np.testing.assert_allclose(merged.mean_std()[0], train.mean(axis=0), atol=1e-4)  # recomputed on the union
    assert len(merged.ids("all")) == 42 + 8
