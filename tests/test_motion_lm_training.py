"""Motion-language-model training: span corruption, the pretrain and instruct stages on a toy dataset."""

import json

import numpy as np
import pytest
import torch

from engine.formats.humanml3d import TextAnnotation, write_mean_std, write_motion, write_split
from engine.models.motion_lm import MotionLM
from engine.models.tokenizer import MotionTokenizer, TokenizerConfig
from trainer.stages.span_corruption import corrupt_spans, random_spans_noise_mask

CAPTIONS = [
    "a person walks forward",
    "a person jumps in place",
    "someone waves the left hand",
    "a man kicks with the right leg",
    "a person turns around",
]


@pytest.fixture(scope="module", autouse=True)
def restore_threads():
    """The stages below run with --threads=1 (torch.set_num_threads is process-wide): put it back."""
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


# --- span corruption ------------------------------------------------------------------------------
@pytest.mark.parametrize("length", [20, 57, 200])
def test_noise_masks_have_t5_density_and_mean_span(length):
    rng = np.random.default_rng(0)
    masks = [random_spans_noise_mask(length, rng) for _ in range(400)]
    density = np.mean([m.mean() for m in masks])
    assert abs(density - 0.15) < 0.5 / length + 0.01
    spans = [n for m in masks for n in np.diff(np.flatnonzero(np.diff(np.r_[0, m.astype(int), 0])))[::2]]
    assert abs(np.mean(spans) - 3.0) < 0.6 if length >= 57 else np.mean(spans) >= 1.5
    assert all(m.any() and not m.all() and not m[0] for m in masks)  # spans interleave, non-noise first


def test_corrupted_inputs_and_targets_rebuild_the_sequence():
    rng = np.random.default_rng(1)
    sentinels, eos = [1000 + i for i in range(100)], 1
    for _ in range(50):
        tokens = rng.integers(10, 500, size=int(rng.integers(2, 90))).tolist()
        inputs, targets = corrupt_spans(tokens, sentinels, eos, rng)
        assert inputs[-1] == eos and targets[-1] == eos
        used = [t for t in inputs if t >= 1000]
        assert used == sentinels[: len(used)] and [t for t in targets if t >= 1000] == used
        # put each hidden span back where its sentinel stands
        spans, current = {}, None
        for token in targets[:-1]:
            if token >= 1000:
                current = token
                spans[current] = []
            else:
                spans[current].append(token)
        rebuilt = [t for s in inputs[:-1] for t in (spans[s] if s >= 1000 else [s])]
        assert rebuilt == tokens


# --- stages ---------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def toy_data(tmp_path_factory):
    """12 train + 4 val motions of random features with captions, and a random tiny motion tokenizer."""
    root = tmp_path_factory.mktemp("toy")
    data, rng = root / "data", np.random.default_rng(0)
    ids = {"train": [f"T{i:03d}" for i in range(12)], "val": [f"V{i:03d}" for i in range(4)]}
    for split, names in ids.items():
        for i, name in enumerate(names):
            features = rng.normal(size=(int(rng.integers(40, 90)), 263)).astype(np.float32)
            caption = CAPTIONS[i % len(CAPTIONS)]
            write_motion(
                data, name, features, texts=[TextAnnotation(caption, tuple(f"{w}/X" for w in caption.split()))]
            )
        write_split(data, split, names)
    write_mean_std(data, np.zeros(263, np.float32), np.ones(263, np.float32))
    torch.manual_seed(0)
    MotionTokenizer(TokenizerConfig.preset("tiny", code_num=16)).save(root / "vq")
    return root


def stage_args(toy_data, run, **extra):
    values = {
        "data_dir": toy_data / "data",
        "tokenizer_dir": toy_data / "vq",
        "run_dir": toy_data / run,
        "batch_size": 8,
        "warmup_steps": 2,
        "eval_every": 20,
        "save_every": 10,
        "eval_examples": 16,
        "max_motion_codes": 16,
        "device": "cpu",
        "threads": 1,
        **extra,
    }
    return [f"--{k}={v}" for k, v in values.items()]


def losses(run_dir, key):
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    return [row[key] for row in rows if key in row]


PRETRAIN_ARGS = {"preset": "tiny", "text_vocab_size": 300, "learning_rate": 3e-3, "dropout_rate": 0.0}


@pytest.fixture(scope="module")
def pretrained(toy_data):
    """30 pretraining steps of a tiny model (shared by the pretrain and instruct tests)."""
    from trainer.cli import main

    assert (
        main(["pretrain", "--config", "pretrain_cpu", *stage_args(toy_data, "pre", **PRETRAIN_ARGS), "--max_steps=30"])
        == 0
    )
    return toy_data / "pre"


def test_pretrain_runs_both_branches_lowers_the_loss_and_resumes(toy_data, pretrained):
    from trainer.cli import main

    run = pretrained
    loss, val = losses(run, "train/loss"), losses(run, "val/loss")
    assert len(loss) == 30 and np.mean(loss[-6:]) < 0.7 * np.mean(loss[:6]) and val[-1] < 0.7 * val[0]
    counts = {k: losses(run, f"train/examples_{k}")[-1] for k in ("span", "t2m", "m2t", "predict")}
    assert all(n > 0 for n in counts.values()) and 0.3 < counts["span"] / sum(counts.values()) < 0.7
    assert losses(run, "val/loss_span") and losses(run, "val/loss_t2m")
    lm = MotionLM.load(run / "model")
    assert lm.vocab.code_num == 16 and (run / "code_cache" / "train.safetensors").is_file()
    # resume (into a copy, the fixture's run stays as it was): 5 more steps continue from step 30
    import shutil

    shutil.copytree(run, toy_data / "pre_resumed")
    run = toy_data / "pre_resumed"
    assert (
        main(
            ["pretrain", "--config", "pretrain_cpu", *stage_args(toy_data, run.name, **PRETRAIN_ARGS), "--max_steps=35"]
        )
        == 0
    )
    steps = [json.loads(line)["step"] for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert steps.count(31) == 1 and steps.count(1) == 1 and max(steps) == 35


def test_instruct_mixes_tasks_and_lowers_the_loss(toy_data, pretrained):
    from trainer.cli import main

    args = stage_args(toy_data, "ins", init_dir=pretrained / "model", learning_rate=3e-3, max_steps=30)
    assert main(["instruct", *args]) == 0
    run = toy_data / "ins"
    val = losses(run, "val/loss")  # step 0 (the pretrained model), 20, 30 on the same validation examples
    assert len(val) == 3 and val[-1] < 0.85 * val[0]
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    kinds = {k[len("train/examples_") :] for row in rows for k in row if k.startswith("train/examples_")}
    assert len(kinds) >= 15  # 30 batches of 8 draw from (nearly) all 18 task kinds
    assert MotionLM.load(run / "model").vocab.code_num == 16


def test_a_text_prefix_model_trains_through_both_stages_and_reads_captions(toy_data):
    """Pretrain with a MiniLM prefix and caption dropout, then instruct from it: the prefix is trained
    (its weights move), saved, and changes what the model decodes for a caption."""
    from trainer.cli import main

    prefix_args = {**PRETRAIN_ARGS, "text_prefix_tokens": 2, "caption_dropout": 0.5}
    assert (
        main(["pretrain", "--config", "pretrain_cpu", *stage_args(toy_data, "pre_p", **prefix_args), "--max_steps=20"])
        == 0
    )
    first, trained = MotionLM.load(toy_data / "pre_p" / "init"), MotionLM.load(toy_data / "pre_p" / "model")
    assert trained.config.text_prefix_tokens == 2
    moved = (trained.text_prefix.project.weight - first.text_prefix.project.weight).abs().max()
    assert moved > 1e-4
    args = stage_args(toy_data, "ins_p", init_dir=toy_data / "pre_p" / "model", max_steps=10, caption_dropout=0.5)
    assert main(["instruct", *args]) == 0
    lm = MotionLM.load(toy_data / "ins_p" / "model")
    assert lm.text_prefix is not None
    batch = lm.encode_prompts(["Text to motion:"] * 2)
    logits = [
        lm.model(
            **lm.encoder_batch(batch["input_ids"], batch["attention_mask"], [c, c]),
            decoder_input_ids=batch["input_ids"][:, :1],
        ).logits[0, -1]
        for c in (CAPTIONS[0], CAPTIONS[1])
    ]
    assert (logits[0] - logits[1]).abs().max() > 1e-4


def test_stage_configs_refuse_bad_values(toy_data):
    from engine.errors import InputError
    from trainer.config import load_config
    from trainer.stages.instruct import InstructConfig
    from trainer.stages.pretrain import PretrainConfig

    with pytest.raises(InputError, match="span_ratio"):
        load_config(PretrainConfig, "pretrain_cpu", ["--span_ratio=1.5"])
    with pytest.raises(InputError, match="tasks"):
        load_config(PretrainConfig, "pretrain_cpu", ["--tasks=t2m,dance"])
    with pytest.raises(InputError, match="unknown"):
        load_config(InstructConfig, "instruct_cpu", ["--tasks=t2m,juggle"])


def test_instruction_placeholders_become_the_right_motion_spans():
    import random

    from engine.models.motion_vocab import MotionVocab
    from trainer.data import instructions as ins
    from trainer.stages.instruct import fill_motion

    vocab, codes = MotionVocab(16, 100), [5, 6, 7, 8, 9, 10, 11, 12, 13, 14]
    record = ins.MotionRecord("x", ("a person walks",), len(codes) * 4, "train")
    templates = ins.load_templates()
    example = ins.make_example("predict", record, templates, random.Random(0))
    cut = example["prefix_frames"] // 4
    source, target = (fill_motion(example[k], example, codes, vocab) for k in ("input", "output"))
    assert vocab.parse_text(source) == codes[:cut] and vocab.parse_text(target) == codes[cut:]
    example = ins.make_example("inbetween", record, templates, random.Random(0))
    start, end = (f // 4 for f in example["mask_frames"])
    source = fill_motion(example["input"], example, codes, vocab)
    assert source.count("<motion_id_18>") == end - start > 0
    assert vocab.parse_text(source) == codes[:start] + codes[end:]
    assert vocab.parse_text(fill_motion(example["output"], example, codes, vocab)) == codes
