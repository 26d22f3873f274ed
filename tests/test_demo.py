"""The README's main command: `motion-engine demo` runs on a fresh clone (bundled sample, no shared data)."""

import subprocess
import sys

import numpy as np
from PIL import Image

from engine.formats.canonical import load_motion
from trainer.evaluate.motion_reading import check_rule, read_motion


def test_demo_writes_a_bvh_that_reimports_and_pictures(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "engine.cli", "demo", "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    summary = (tmp_path / "summary.txt").read_text()
    assert "left" in summary.lower()  # the bundled clip waves the left hand; the describer must say so
    features = np.load(tmp_path / "features.npy")
    assert features.shape[1] == 263
    motion = load_motion(tmp_path / "demo.bvh")
    assert motion.positions.shape == (features.shape[0], 22, 3)
    assert 1.3 < motion.positions[..., 1].max() < 2.4  # a standing adult waving a hand above the head
    with Image.open(tmp_path / "demo.gif") as gif:
        assert gif.n_frames == features.shape[0]
    # the shipped bundle has a language model: the demo also generates 4 s (80 frames) from text
    generated = load_motion(tmp_path / "generated.bvh").positions
    assert generated.shape == (80, 22, 3)
    assert "text-to-motion" in summary and "80 frames" in summary
    # ... and the motion does what its prompt ("a person waves the left hand") says, read as a person would
    # (the held-out benchmark's wave rule: in place, the left hand raised, at least 3 wave swings)
    wave = {"locomotion": "none", "wave_swings_min": 3, "hand_raised": "left"}
    assert check_rule(wave, read_motion(generated)) == []


def test_demo_without_a_language_model_says_so_and_still_succeeds(tmp_path):
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "engine.cli",
            "demo",
            "--out",
            str(tmp_path),
            "--bundle",
            str(tmp_path / "no_bundle_here"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert "text-to-motion    skipped" in result.stdout and "motion-train" in result.stdout
    assert not (tmp_path / "generated.bvh").exists()


def test_preview_command_writes_a_png_frame(tmp_path):
    from engine.commands.demo import DEFAULT_CLIP

    out = tmp_path / "frame.png"
    result = subprocess.run(
        [sys.executable, "-m", "engine.cli", "preview", str(DEFAULT_CLIP), str(out), "--frame", "5"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert Image.open(out).size == (320, 320)
    bad = subprocess.run(
        [sys.executable, "-m", "engine.cli", "preview", str(DEFAULT_CLIP), str(tmp_path / "x.jpg")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert bad.returncode == 2 and ".gif or a .png" in bad.stderr
