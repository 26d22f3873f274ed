"""The model commands end to end (generate, caption, predict, inbetween, edit-pose, bench, info) with a
tiny untrained bundle given by --bundle: files are written with the lengths asked for, and a missing
model or a bad argument ends with exit code 2 and one sentence. Run in-process (engine.cli.main).
"""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image
from tiny_bundle import write_tiny_bundle

from engine.bundle import default_bundle_dir
from engine.cli import main
from engine.formats.canonical import load_motion

WALK = default_bundle_dir().parent / "samples" / "dataset-2_walk_active_009.bvh"


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    import torch

    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)  # the commands set 1 thread (their default); give back the old count


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    return str(write_tiny_bundle(tmp_path_factory.mktemp("bundle")))


def _run(*argv: str) -> int:
    return main([str(a) for a in argv])


def test_generate_writes_npy_bvh_and_gif_of_the_length_asked(bundle, tmp_path):
    assert (
        _run(
            "generate",
            "a person walks forward",
            "-o",
            tmp_path / "a.npy",
            "--frames",
            30,
            "--seed",
            1,
            "--bundle",
            bundle,
        )
        == 0
    )
    motion = np.load(tmp_path / "a.npy")
    assert motion.shape == (30, 22, 3)
    assert (
        _run(
            "generate",
            "a person walks forward",
            "-o",
            tmp_path / "a.bvh",
            "--seconds",
            0.75,
            "--temperature",
            0,
            "--bundle",
            bundle,
        )
        == 0
    )
    assert load_motion(tmp_path / "a.bvh").num_frames == 15
    assert (
        _run(
            "generate",
            "jumps",
            "-o",
            tmp_path / "a.gif",
            "--frames",
            6,
            "--top-k",
            3,
            "--top-p",
            0.9,
            "--bundle",
            bundle,
        )
        == 0
    )
    assert Image.open(tmp_path / "a.gif").n_frames == 6


def test_caption_prints_one_line(bundle, capsys):
    assert _run("caption", f"{WALK}:0-40", "--bundle", bundle) == 0
    assert capsys.readouterr().out.count("\n") == 1


def test_predict_appends_the_new_frames(bundle, tmp_path):
    assert (
        _run("predict", f"{WALK}:0-40", "-o", tmp_path / "p.npy", "--frames", 13, "--seed", 2, "--bundle", bundle) == 0
    )
    motion, walk = np.load(tmp_path / "p.npy"), load_motion(WALK).positions
    assert motion.shape == (41 + 13, 22, 3)
    np.testing.assert_allclose(motion[:41], walk[:41], atol=1e-6)  # the input is kept as it was
    assert _run("predict", WALK, "-o", tmp_path / "n.npz", "--frames", 9, "--only-new", "--bundle", bundle) == 0
    assert np.load(tmp_path / "n.npz")["positions"].shape == (9, 22, 3)


def test_inbetween_from_single_frames_and_ranges(bundle, tmp_path):
    assert (
        _run("inbetween", f"{WALK}:0", f"{WALK}:60", "-o", tmp_path / "i.npy", "--frames", 21, "--bundle", bundle) == 0
    )
    assert np.load(tmp_path / "i.npy").shape == (1 + 21 + 1, 22, 3)
    assert (
        _run(
            "inbetween",
            f"{WALK}:0-20",
            f"{WALK}:60-80",
            "-o",
            tmp_path / "g.bvh",
            "--frames",
            8,
            "--only-new",
            "--bundle",
            bundle,
        )
        == 0
    )
    assert load_motion(tmp_path / "g.bvh").num_frames == 8


def test_edit_pose_writes_one_frame(bundle, tmp_path):
    assert _run("edit-pose", f"{WALK}:30", "raise your left arm", "-o", tmp_path / "e.npy", "--bundle", bundle) == 0
    assert np.load(tmp_path / "e.npy").shape == (1, 22, 3)
    assert _run("edit-pose", WALK, "bend your knees", "-o", tmp_path / "e.gif", "--seed", 1, "--bundle", bundle) == 0


def test_bench_prints_a_row_per_op(bundle, capsys):
    assert (
        _run(
            "bench",
            "--bundle",
            bundle,
            "--requests",
            1,
            "--concurrency",
            2,
            "--frames",
            16,
            "--ops",
            "text_to_motion,predict,describe_pose",
        )
        == 0
    )
    lines = capsys.readouterr().out.splitlines()
    header = next(i for i, line in enumerate(lines) if line.split()[:3] == ["op", "median", "ms"])
    rows = {line.split()[0]: line for line in lines[header + 1 :]}
    assert set(rows) == {"text_to_motion", "predict", "describe_pose"}
    assert all("unavailable" not in row and len(row.split()) == 4 for row in rows.values())


def test_missing_models_and_bad_arguments_are_one_sentence_with_exit_code_2(tmp_path, capsys):
    lacking = write_tiny_bundle(tmp_path / "tok_only", components=("tokenizer",))
    assert _run("generate", "walk", "-o", tmp_path / "x.npy", "--bundle", lacking) == 2
    assert "motion-language model" in capsys.readouterr().err
    assert _run("edit-pose", WALK, "raise", "-o", tmp_path / "x.npy", "--bundle", lacking) == 2
    assert "pose editor" in capsys.readouterr().err
    assert _run("generate", "walk", "-o", tmp_path / "x.txt", "--bundle", lacking) == 2
    assert ".bvh" in capsys.readouterr().err
    assert _run("inbetween", f"{WALK}:0", f"{WALK}:9999", "-o", tmp_path / "x.npy", "--bundle", lacking) == 2
    assert "outside the file" in capsys.readouterr().err


def test_info_lists_the_default_bundle(capsys):
    assert _run("info") == 0
    out = capsys.readouterr().out
    assert str(default_bundle_dir()) in out and "component      tokenizer" in out
