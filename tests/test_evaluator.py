"""Evaluator encoders, their contrastive training and `motion-train evaluate` end to end on a tiny
synthetic HumanML3D-layout folder (4 labels whose motions differ in a known way)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from engine.errors import InputError
from trainer.evaluate.evaluator_models import Evaluator, EvaluatorConfig, build_vocab
from trainer.stages.evaluator import EvaluatorTrainConfig, multi_positive_nce, train_evaluators

LABELS = {
    0: ["a person walks forward", "someone walks ahead"],
    1: ["a person jumps up", "someone hops in place"],
    2: ["a person waves a hand", "someone waves hello"],
    3: ["a person kicks with a leg", "someone kicks"],
}


def _tiny_config(kind: str = "text_motion") -> EvaluatorConfig:
    vocab = build_vocab([c for caps in LABELS.values() for c in caps])
    return EvaluatorConfig(kind=kind, vocab=vocab, word_dim=8, hidden=16, embed_dim=8)


def test_encoders_give_unit_vectors_ignore_padding_and_round_trip(tmp_path):
    torch.manual_seed(0)
    model = Evaluator(_tiny_config()).eval()
    text = model.encode_text(["a person walks forward", "unknown words only"])
    assert text.shape == (2, 8) and torch.allclose(text.norm(dim=-1), torch.ones(2))
    features = torch.randn(1, 24, 263)
    padded = torch.cat([features, torch.randn(1, 16, 263)], dim=1)  # garbage after the length
    with torch.no_grad():
        plain = model.encode_motion(features, torch.tensor([24]))
        masked = model.encode_motion(padded, torch.tensor([24]))
    assert torch.allclose(plain, masked, atol=1e-6)
    model.save(tmp_path / "ev")
    loaded = Evaluator.load(tmp_path / "ev")
    with torch.no_grad():
        assert torch.equal(loaded.encode_motion(features, torch.tensor([24])), plain)
    config = json.loads((tmp_path / "ev" / "config.json").read_text())
    config["version"] = "old"
    (tmp_path / "ev" / "config.json").write_text(json.dumps(config))
    with pytest.raises(InputError, match="version"):
        Evaluator.load(tmp_path / "ev")


def test_pair_encoder_shapes():
    model = Evaluator(_tiny_config("text_pair")).eval()
    poses = torch.randn(5, 22, 3)
    assert model.encode_pair(poses, poses).shape == (5, 8)
    assert model.encode_pose(poses).shape == (5, 16)


def test_multi_positive_nce_by_hand():
    logits = torch.zeros(2, 2)
    # one positive among two equal logits: -log(1/2) each way
    assert multi_positive_nce(logits, torch.eye(2, dtype=torch.bool)).item() == pytest.approx(math.log(2))
    # every column positive: nothing to separate
    assert multi_positive_nce(logits, torch.ones(2, 2, dtype=torch.bool)).item() == pytest.approx(0.0)


def _motion(label: int, rng: np.random.Generator) -> np.ndarray:
    frames = int(rng.integers(24, 60))
    t = np.arange(frames)[:, None] / 20.0
    features = 0.1 * rng.normal(size=(frames, 263))
    features[:, 4:67] += np.sin(2 * np.pi * (label + 1) * 0.5 * t + np.arange(63) * 0.1)  # label = frequency
    features[:, 3] = 0.9  # root height
    return features.astype(np.float32)


def write_dataset(root, rng: np.random.Generator, counts=(64, 32, 40)) -> None:
    """A HumanML3D-layout folder with train/val/test splits, captions and PoseFix pairs."""
    for folder in ("new_joint_vecs", "texts", "pairs"):
        (root / folder).mkdir(parents=True)
    all_features, index = [], 0
    for split, count in zip(("train", "val", "test"), counts):
        ids = []
        for i in range(count):
            label, clip_id = i % 4, f"S{index:05d}"
            index += 1
            features = _motion(label, rng)
            all_features.append(features)
            np.save(root / "new_joint_vecs" / f"{clip_id}.npy", features)
            lines = [f"{c}#{' '.join(w + '/NOUN' for w in c.split())}#0.0#0.0" for c in LABELS[label]]
            (root / "texts" / f"{clip_id}.txt").write_text("\n".join(lines) + "\n")
            ids.append(clip_id)
        (root / f"{split}.txt").write_text("\n".join(ids) + "\n")
        _write_pairs(root / "pairs", split, count, rng)
    stacked = np.concatenate(all_features)
    np.save(root / "Mean.npy", stacked.mean(0))
    np.save(root / "Std.npy", stacked.std(0) + 1e-3)


def _write_pairs(folder, split: str, count: int, rng: np.random.Generator) -> None:
    texts = ["raise your left arm", "bend your right knee", "lower your head", "spread your legs"]
    base = np.random.default_rng(7).normal(scale=0.3, size=(1, 22, 3))  # one body, small variations
    pose_a = (base + rng.normal(scale=0.03, size=(count, 22, 3))).astype(np.float32)
    pose_b = pose_a.copy()
    kinds = np.arange(count) % 4
    pose_b[np.arange(count), 16 + kinds, 1] += 0.5  # each text moves one joint up
    np.savez(folder / f"pairs_{split}.npz", pose_a=pose_a, pose_b=pose_b)
    (folder / f"pairs_{split}.jsonl").write_text(
        "".join(json.dumps({"index": i, "text": texts[k]}) + "\n" for i, k in enumerate(kinds))
    )


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("evaluator")
    write_dataset(root / "data", np.random.default_rng(0))
    config = EvaluatorTrainConfig(
        data_dir=str(root / "data"),
        run_dir=str(root / "run"),
        batch_size=16,
        pair_batch_size=32,
        max_steps=80,
        pair_max_steps=80,
        word_dim=16,
        hidden=32,
        embed_dim=16,
        eval_every=80,
        learning_rate=3e-3,
    )
    return root, train_evaluators(config)


def test_training_separates_labels(trained):
    root, model_dir = trained
    manifest = json.loads((model_dir / "manifest.json").read_text())
    assert manifest["data_version"] and manifest["version"].startswith("motion-copilot-evaluator")
    # 4 labels, 2 captions each: caption-equal R@3 well above chance (~3 of 8 distinct captions)
    assert manifest["components"]["text_motion"]["validation"]["val/R@3"] > 0.9
    assert manifest["components"]["text_pair"]["validation"]["val/R@1"] > 0.9


def test_evaluate_command_writes_table(trained):
    from engine.models.tokenizer import MotionTokenizer, TokenizerConfig
    from trainer.cli import main

    root, model_dir = trained
    torch.manual_seed(0)
    tokenizer = MotionTokenizer(TokenizerConfig.preset("tiny"))
    tokenizer.save(root / "tokenizer")
    out = root / "eval"
    code = main(
        [
            "evaluate",
            "--data",
            str(root / "data"),
            "--evaluators",
            str(model_dir),
            "--tokenizer",
            str(root / "tokenizer"),
            "--out",
            str(out),
            "--repeats",
            "3",
        ]
    )
    assert code == 0
    report = json.loads((out / "results.json").read_text())
    sections = {s["title"]: s for s in report["sections"]}
    real = sections["Text-to-motion"]["rows"][0]
    assert real["name"] == "Real" and real["values"]["R@3"][0] > 0.9
    assert real["values"]["FID"][0] < sections["Text-to-motion"]["rows"][1]["values"]["FID"][0]  # untrained tokenizer
    assert any("motion-language model" in s for s in sections["Text-to-motion"]["skipped"])
    assert sections["Tokenizer reconstruction"]["rows"][0]["values"]["MPJPE (mm)"][0] > 0
    assert sections["Pose pairs (PoseFix)"]["rows"][0]["values"]["R@1"][0] > 0.9
    markdown = (out / "results.md").read_text()
    assert "| Real |" in markdown and "±" in markdown and report["versions"]["repeats"] == "3"


def test_evaluate_without_evaluator_says_what_to_run(tmp_path, capsys):
    from trainer.cli import main

    assert main(["evaluate", "--data", str(tmp_path)]) == 2
    assert "motion-train evaluator" in capsys.readouterr().err


def test_generated_rows_plug_in_and_rank_generators(trained):
    """A text->motion function plugs into the table: an oracle that returns a real motion with the
    caption beats one that returns noise on R-precision and FID."""
    from trainer.evaluate.data import load_captioned_split
    from trainer.evaluate.rows import MotionContext, generated_row

    root, model_dir = trained
    train = load_captioned_split(root / "data", "train")
    ctx = MotionContext(
        load_captioned_split(root / "data", "test"), Evaluator.load(model_dir / "text_motion"), repeats=2, seed=0
    )

    def oracle(texts, rng):
        return [train.features[rng.choice([i for i, caps in enumerate(train.captions) if t in caps])] for t in texts]

    def noise(texts, rng):
        return [rng.normal(size=(40, 263)).astype(np.float32) for _ in texts]

    good, bad = generated_row(ctx, "oracle", oracle), generated_row(ctx, "noise", noise)
    assert good.values["R@3"][0] > 0.8 > bad.values["R@3"][0]
    assert good.values["FID"][0] < bad.values["FID"][0]
    assert good.values["MModality"][0] > 0.0  # the oracle picks among several real motions


def test_evaluate_reads_components_from_a_bundle(trained):
    import shutil

    from trainer.evaluate.run import EvaluationRequest, evaluate_bundle

    root, model_dir = trained
    bundle = root / "bundle"
    shutil.copytree(model_dir, bundle / "evaluators")
    (bundle / "manifest.json").write_text(
        json.dumps(
            {"format": "motion-copilot-bundle", "version": 1, "components": {"evaluators": {"path": "evaluators"}}}
        )
    )
    markdown = evaluate_bundle(
        EvaluationRequest(data=root / "data", bundle=bundle, out=root / "bundle_eval", repeats=2)
    ).read_text()
    assert "| Real |" in markdown
    assert "no tokenizer in the bundle" in markdown  # a missing component is a note, not a failure
    assert f"--bundle {bundle}" in markdown


def test_pose_editor_and_completion_rows(trained):
    from trainer.evaluate.data import load_captioned_split, load_pairs
    from trainer.evaluate.rows import MotionContext, completion_row, pose_editor_row

    root, model_dir = trained
    pairs = load_pairs(root / "data", "test")
    evaluator = Evaluator.load(model_dir / "text_pair")

    def exact(pose_a, texts, samples, rng):  # returns B itself once among N noisy samples
        out = np.repeat(pairs.pose_b[:, None], samples, axis=1) + rng.normal(
            scale=0.05, size=(len(texts), samples, 22, 3)
        )
        out[:, 1] = pairs.pose_b
        return out

    row = pose_editor_row(evaluator, pairs, "exact", exact, samples=4)
    assert row.values["Joint error (mm)"][0] == pytest.approx(0.0, abs=1e-3)
    unchanged = pose_editor_row(evaluator, pairs, "copy", lambda a, t, n, r: np.repeat(a[:, None], n, axis=1), 2)
    assert unchanged.values["Joint error (mm)"][0] > 10.0

    ctx = MotionContext(load_captioned_split(root / "data", "test"), Evaluator.load(model_dir / "text_motion"), 2, 0)
    perfect = completion_row(ctx, "copy", lambda motions, task, rng: motions, "prediction")
    assert perfect.values["ADE"][0] == 0.0 and perfect.values["FDE"][0] == 0.0
    frozen = completion_row(
        ctx, "freeze", lambda ms, task, rng: [np.repeat(m[:1], len(m), 0) for m in ms], "prediction"
    )
    assert frozen.values["ADE"][0] > 0.0 and frozen.values["FID"][0] > perfect.values["FID"][0]


@pytest.mark.parametrize("name", ["evaluator_cpu", "evaluator_bandai"])
def test_shipped_configs_load(name):
    from trainer.config import load_config

    config = load_config(EvaluatorTrainConfig, name, ["--max_steps=5"])
    assert config.max_steps == 5 and set(config.kinds) <= {"text_motion", "text_pair"}
    with pytest.raises(InputError):
        load_config(EvaluatorTrainConfig, name, ['--kinds=["nonsense"]'])


def test_bundle_pose_editor_row(trained):
    import shutil

    from engine.models.pose_editor import PoseEditor, PoseEditorConfig
    from engine.models.text_encoder import TextEncoderConfig, WordTokenizer
    from trainer.evaluate.run import EvaluationRequest, evaluate_bundle

    root, model_dir = trained
    torch.manual_seed(0)
    tokenizer = WordTokenizer.train(["raise your left arm", "bend your right knee"])
    text = TextEncoderConfig(kind="bigru", out_dim=16, vocab_size=tokenizer.vocab_size, embed_dim=8)
    bundle = root / "bundle_editor"
    PoseEditor(PoseEditorConfig(latent_dim=8, hidden=32, text=text), tokenizer).save(bundle / "pose_editor")
    shutil.copytree(model_dir, bundle / "evaluators")
    (bundle / "manifest.json").write_text(
        json.dumps(
            {
                "format": "motion-copilot-bundle",
                "version": 1,
                "components": {"evaluators": {"path": "evaluators"}, "pose_editor": {"path": "pose_editor"}},
            }
        )
    )
    evaluate_bundle(EvaluationRequest(data=root / "data", bundle=bundle, out=root / "editor_eval", repeats=1))
    report = json.loads((root / "editor_eval" / "results.json").read_text())
    rows = {r["name"]: r for s in report["sections"] for r in s["rows"] if s["title"].startswith("Pose")}
    error = rows["Pose editor"]["values"]["Joint error (mm)"][0]
    assert np.isfinite(error) and error > 0 and "pose_editor" in report["versions"]


def test_bundle_language_model_rows(trained):
    import shutil

    from transformers import AutoTokenizer

    from engine.models.motion_lm import MotionLM, MotionLMConfig
    from engine.models.text_tokenizer import train_text_tokenizer
    from engine.models.tokenizer import MotionTokenizer, TokenizerConfig
    from trainer.evaluate.run import EvaluationRequest, evaluate_bundle

    root, model_dir = trained
    bundle = root / "bundle_lm"
    corpus = [c for caps in LABELS.values() for c in caps] + ["Text to motion: a person", "Motion to text: it"]
    train_text_tokenizer(corpus * 5, vocab_size=80, extra_ids=4).save_pretrained(str(root / "text_tok"))
    text_tokenizer = AutoTokenizer.from_pretrained(str(root / "text_tok"))
    config = MotionLMConfig.preset("tiny", max_motion_codes=12, dropout_rate=0.0)
    MotionLM.create(config, text_tokenizer, 16, seed=0).save(bundle / "language_model")
    torch.manual_seed(0)
    MotionTokenizer(TokenizerConfig.preset("tiny", code_num=16)).save(bundle / "tokenizer")
    shutil.copytree(model_dir, bundle / "evaluators")
    (bundle / "manifest.json").write_text(
        json.dumps(
            {
                "format": "motion-copilot-bundle",
                "version": 1,
                "components": {name: {"path": name} for name in ("evaluators", "tokenizer", "language_model")},
            }
        )
    )
    evaluate_bundle(EvaluationRequest(data=root / "data", bundle=bundle, out=root / "lm_eval", repeats=1))
    report = json.loads((root / "lm_eval" / "results.json").read_text())
    sections = {s["title"]: s for s in report["sections"]}
    t2m = {r["name"]: r["values"] for r in sections["Text-to-motion"]["rows"]}
    m2t = {r["name"]: r["values"] for r in sections["Motion-to-text"]["rows"]}
    # an untrained model: rows exist, and the real motions beat its output
    assert t2m["Motion-language model"]["R@3"][0] < t2m["Real"]["R@3"][0]
    assert "MModality" in t2m["Motion-language model"] and "BLEU-4" in m2t["Motion-language model"]


def test_table_markdown_and_json(tmp_path):
    from trainer.evaluate.table import Report, Row, Section, format_value, write_table

    assert format_value(0.5123, 0.0031) == "0.512±.003" and format_value(58.689, 0.0) == "58.7"
    section = Section("T2M", ["R@1", "FID"], [Row("Real", {"R@1": (0.5, 0.01)})], ["a note"], ["LM: missing"])
    markdown = write_table(Report("Evaluation", [section], {"data": "abc"}), tmp_path / "results").read_text()
    assert "| Real | 0.500±.010 | – |" in markdown and "- skipped: LM: missing" in markdown
    assert json.loads((tmp_path / "results.json").read_text())["sections"][0]["rows"][0]["values"]["R@1"] == [0.5, 0.01]


def test_canonical_pairs_is_the_editor_representation(trained):
    """Edits are scored in the editor's representation (FK on the default skeleton): converting is
    idempotent, keeps the pair's texts, and "no edit" stays a real, non-zero baseline."""
    from trainer.evaluate.data import load_pairs
    from trainer.evaluate.rows import canonical_pairs, copy_pose_a, pose_editor_row

    root, model_dir = trained
    pairs = load_pairs(root / "data", "test")
    once = canonical_pairs(pairs)
    twice = canonical_pairs(once)
    assert once.texts == pairs.texts
    assert np.abs(twice.pose_b - once.pose_b).max() < 1e-4
    row = pose_editor_row(Evaluator.load(model_dir / "text_pair"), once, "No edit", copy_pose_a, 1)
    assert row.values["Joint error (mm)"][0] > 5.0


def test_source_filter_picks_one_source_of_a_mixed_build(trained, tmp_path):
    """--source keeps only the motions and pairs of one meta.jsonl source (e.g. the held-out
    procedural motions of a Bandai + procedural build); an unknown source names the known ones."""
    import shutil

    from engine.errors import InputError
    from trainer.evaluate.data import load_captioned_split, load_pairs

    root, _ = trained
    data = tmp_path / "data"
    shutil.copytree(root / "data", data)
    test_ids = (data / "test.txt").read_text().split()
    all_ids = [i for s in ("train", "val", "test") for i in (data / f"{s}.txt").read_text().split()]
    source = {clip: ("procedural" if n % 3 == 0 else "bandai") for n, clip in enumerate(all_ids)}
    (data / "meta.jsonl").write_text("".join(json.dumps({"id": c, "source": s}) + "\n" for c, s in source.items()))
    with np.load(data / "pairs" / "pairs_test.npz") as arrays:
        ids = np.array([f"{test_ids[i % len(test_ids)]}:{i}" for i in range(len(arrays["pose_a"]))])
        np.savez(data / "pairs" / "pairs_test.npz", pose_a=arrays["pose_a"], pose_b=arrays["pose_b"], id_a=ids)

    procedural = load_captioned_split(data, "test", source="procedural")
    assert procedural.ids == [i for i in test_ids if source[i] == "procedural"]
    assert len(load_captioned_split(data, "test").ids) == len(test_ids)
    pairs, everything = load_pairs(data, "test", "procedural"), load_pairs(data, "test")
    expected = [source[i.split(":")[0]] == "procedural" for i in ids]
    assert len(pairs.texts) == sum(expected) < len(everything.texts)
    np.testing.assert_array_equal(pairs.pose_a, everything.pose_a[np.array(expected)])
    with pytest.raises(InputError, match="bandai, procedural"):
        load_captioned_split(data, "test", source="kit")
