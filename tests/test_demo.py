"""The README's main command: `motion-engine demo` runs on a fresh clone (bundled sample, no shared data)."""
import subprocess
import sys

import numpy as np
from PIL import Image

from engine.formats.canonical import load_motion


def test_demo_writes_a_bvh_that_reimports_and_pictures(tmp_path):
    result = subprocess.run([sys.executable, "-m", "engine.cli", "demo", "--out", str(tmp_path)],
                            capture_output=True, text=True, timeout=300)
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


def test_preview_command_writes_a_png_frame(tmp_path):
    from engine.commands.demo import DEFAULT_CLIP

    out = tmp_path / "frame.png"
    result = subprocess.run([sys.executable, "-m", "engine.cli", "preview", str(DEFAULT_CLIP), str(out), "--frame", "5"],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert Image.open(out).size == (320, 320)
    bad = subprocess.run([sys.executable, "-m", "engine.cli", "preview", str(DEFAULT_CLIP), str(tmp_path / "x.jpg")],
                         capture_output=True, text=True, timeout=300)
    assert bad.returncode == 2 and ".gif or a .png" in bad.stderr
