"""`motion-train posefix` and `motion-train feedback` end to end on a tiny synthetic dataset: train,
resume, save, load; human finetuning from PoseFix-format files.

Run: `pytest -q tests/test_pose_editor_stage.py`.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from posefix_fixtures import one_torch_thread, random_poses, write_dataset

from engine.models.correction_writer import CorrectionWriter
from engine.models.pose_editor import PoseEditor
from trainer.cli import main

single_thread = pytest.fixture(autouse=True)(one_torch_thread)
TINY_EDITOR = [
    "--text_encoder=bigru",
    "--latent_dim=8",
    "--hidden=32",
    "--text_dim=16",
    "--batch_size=8",
    "--extra_pairs=20",
    "--eval_every=2",
    "--save_every=2",
    "--device=cpu",
]
TINY_WRITER = [
    "--d_model=32",
    "--layers=1",
    "--heads=2",
    "--ff=64",
    "--batch_size=8",
    "--extra_pairs=20",
    "--eval_every=2",
    "--eval_pairs=4",
    "--save_every=2",
    "--device=cpu",
]


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    return write_dataset(tmp_path_factory.mktemp("posefix_data"))


def test_posefix_trains_resumes_and_saves(dataset, tmp_path):
    run = tmp_path / "run"
    args = ["posefix", f"--data_dir={dataset}", f"--run_dir={run}", *TINY_EDITOR]
    assert main([*args, "--max_steps=2"]) == 0
    assert main([*args, "--max_steps=4"]) == 0  # resumes at step 2
    steps = [json.loads(line)["step"] for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert steps[:2] == [1, 2] and 3 in steps and steps.count(1) == 1
    editor = PoseEditor.load(run / "model")
    assert editor.config.text.kind == "bigru" and editor.config.latent_dim == 8
    assert editor.edit(random_poses(1)[0], "Raise your left arm.")["positions"].shape == (22, 3)


def test_feedback_trains_and_finetunes_on_posefix_json(dataset, tmp_path):
    run = tmp_path / "writer"
    assert main(["feedback", f"--data_dir={dataset}", f"--run_dir={run}", *TINY_WRITER, "--max_steps=2"]) == 0
    writer = CorrectionWriter.load(run / "model")
    poses = random_poses(6, seed=4)
    np.save(tmp_path / "poses.npy", poses)
    (tmp_path / "human.json").write_text(json.dumps({str(i): [f"Raise your left arm, {i}."] for i in range(5)}))
    (tmp_path / "pairs.json").write_text(json.dumps([[i, i + 1] for i in range(5)]))
    tuned = tmp_path / "tuned"
    assert (
        main(
            [
                "feedback",
                f"--run_dir={tuned}",
                f"--init_from={run / 'model'}",
                *TINY_WRITER,
                "--max_steps=2",
                f"--human_annotations={tmp_path / 'human.json'}",
                f"--human_pair_ids={tmp_path / 'pairs.json'}",
                f"--human_poses={tmp_path / 'poses.npy'}",
            ]
        )
        == 0
    )
    assert CorrectionWriter.load(tuned / "model").tokenizer.vocab_size == writer.tokenizer.vocab_size


def test_bad_finetuning_options_are_reported(tmp_path, capsys):
    assert main(["posefix", f"--run_dir={tmp_path}", "--human_annotations=x.json"]) == 2
    assert "human_pair_ids" in capsys.readouterr().err
