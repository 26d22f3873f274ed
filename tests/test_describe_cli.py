"""`motion-engine describe-pose` / `describe-change` on a real Bandai clip, and their errors."""

from __future__ import annotations

from engine.cli import main
from engine.commands.describe import split_spec


def test_split_spec():
    assert split_spec("clip.bvh:12") == (split_spec("clip.bvh")[0], 12)
    assert split_spec("clip.bvh:-1")[1] == -1
    assert split_spec("C:/data/clip.bvh")[1] == 0  # a drive letter is not a frame


def test_describe_pose_and_change(bandai_clips, capsys):
    clip = str(bandai_clips[0])
    assert main(["describe-pose", f"{clip}:3", "--deterministic"]) == 0
    first = capsys.readouterr().out.strip()
    assert main(["describe-pose", f"{clip}:3", "--deterministic"]) == 0
    assert capsys.readouterr().out.strip() == first and first.endswith(".")
    assert main(["describe-change", f"{clip}:0", f"{clip}:-1", "--seed", "2", "--count", "3"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 3 and all(line.endswith(".") for line in lines)
    assert main(["describe-change", f"{clip}:4", f"{clip}:4"]) == 0
    assert capsys.readouterr().out.strip() == "The two poses are the same."


def test_errors_are_sentences(bandai_clips, tmp_path, capsys):
    clip = str(bandai_clips[0])
    assert main(["describe-pose", f"{clip}:100000"]) == 2
    assert "out of range" in capsys.readouterr().err
    assert main(["describe-change", clip, str(tmp_path / "missing.bvh")]) == 2
    assert "file not found" in capsys.readouterr().err
