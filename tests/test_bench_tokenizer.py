"""Smoke test of benchmarks/bench_tokenizer.py: every row trains through the real trainer CLI for two
steps at the tiny preset on a toy feature folder, is evaluated on the test split and lands in the
table and JSON; `--reuse` picks finished rows up without retraining. The real figures come from
running the benchmark itself on the Bandai build (see engine/assets/default_bundle/tokenizer/TRAINING.md)."""

import importlib.util
import json
import math
import sys
from pathlib import Path

import numpy as np

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_tokenizer.py"


def load_bench():
    spec = importlib.util.spec_from_file_location("bench_tokenizer", BENCH)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def write_toy_features(root: Path, clips: int = 8, frames: int = 40) -> Path:
    """HumanML3D layout with smooth random 263-dim features (exercises the code path, not a real motion)."""
    rng = np.random.default_rng(0)
    (root / "new_joint_vecs").mkdir(parents=True)
    ids = [f"{k:06d}" for k in range(clips)]
    time = np.linspace(0, 2 * np.pi, frames)[:, None]
    stacked = []
    for clip_id in ids:
        features = np.sin(time * rng.uniform(0.5, 3, 263) + rng.uniform(0, 6, 263)).astype(np.float32)
        np.save(root / "new_joint_vecs" / f"{clip_id}.npy", features)
        stacked.append(features)
    stacked = np.concatenate(stacked)
    np.save(root / "Mean.npy", stacked.mean(0))
    np.save(root / "Std.npy", stacked.std(0) + 1e-3)
    for split, chosen in (("train", ids[:5]), ("val", ids[5:6]), ("test", ids[6:]), ("all", ids)):
        (root / f"{split}.txt").write_text("\n".join(chosen) + "\n")
    return root


def test_benchmark_trains_every_row_and_reports_test_split_figures(tmp_path):
    bench = load_bench()
    data = write_toy_features(tmp_path / "data")
    out = tmp_path / "bench"
    assert [row.name for row in bench.plan_rows(600, 2000)] == [
        "vq_k256",
        "vq_k512",
        "vq_k1024",
        "autoencoder",
        "default_k512",
    ]
    # two rows keep the test short (each row is a trainer subprocess); the others differ only in K
    common = [
        "--data",
        str(data),
        "--steps",
        "2",
        "--out",
        str(out),
        "--jobs",
        "2",
        "--skip-full-latency",
        "--rows",
        "vq_k256,autoencoder",
        "--preset=tiny",
        "--width=32",
        "--code_dim=32",
        "--batch_size=4",
        "--window=32",
        "--warmup_steps=1",
    ]
    assert bench.main(common) == 0
    results = json.loads((out / "results.json").read_text())
    rows = {row["name"]: row for row in results["rows"]}
    assert set(rows) == {"vq_k256", "autoencoder"}
    assert results["test_clips"] == 2
    for name, row in rows.items():
        assert row["steps"] == 2 and row["wall_s"] > 0 and row["cpu_s"] > 0
        assert math.isfinite(row["test/mpjpe_mm"]) and 0 < row["test/mpjpe_aligned_mm"]
        config = json.loads((out / "runs" / name / "model" / "config.json").read_text())
        assert config["code_num"] == row["code_num"] and config["width"] == 32  # the tiny preset was passed through
        if name == "autoencoder":
            assert math.isnan(row["test/code_usage"])  # its codebook is never trained, so never read
        else:
            # 2 test clips of 40 frames = 20 tokens: usage is at most 20 / K
            assert 0 < row["test/code_usage"] <= 20 / row["code_num"] + 1e-9
            assert 1 <= row["test/perplexity"] <= 20 + 1e-6
    assert all(entry["cpu_ms"] > 0 for entry in results["latency"].values())
    table = (out / "results.md").read_text()
    assert "**test split**" in table and "| autoencoder | - | 2 |" in table

    first_wall = rows["vq_k256"]["wall_s"]
    assert bench.main(common + ["--reuse"]) == 0  # finished rows are read back, not retrained
    again = {row["name"]: row for row in json.loads((out / "results.json").read_text())["rows"]}
    assert again["vq_k256"]["wall_s"] == first_wall
    assert again["vq_k256"]["test/mpjpe_mm"] == rows["vq_k256"]["test/mpjpe_mm"]

    # installing into a bundle keeps the components others listed and loads back through engine.bundle
    bundle = tmp_path / "bundle"
    (bundle / "pose_editor").mkdir(parents=True)
    (bundle / "manifest.json").write_text(
        json.dumps(
            {"format": "motion-copilot-bundle", "version": 1, "components": {"pose_editor": {"path": "pose_editor"}}}
        )
    )
    bench.install_into_bundle(out / "runs" / "vq_k256" / "model", bundle)
    from engine.bundle import load_bundle
    from engine.models.tokenizer import MotionTokenizer

    loaded = load_bundle(bundle)
    assert loaded.has("tokenizer") and loaded.has("pose_editor") and not loaded.problems
    assert MotionTokenizer.load(loaded.components["tokenizer"].path).config.code_num == 256
