"""Motion-language model (engine side): vocabulary, constrained generation, save/load, converter, tasks.

Tiny configs throughout (d_model 32, 2+2 layers, a 16-code motion tokenizer) so the file runs in seconds.
"""

import json

import numpy as np
import pytest
import torch
from transformers import AutoTokenizer, T5ForConditionalGeneration

from engine.errors import InputError
from engine.models.motion_lm import MotionLM, MotionLMConfig, Sampling
from engine.models.motion_vocab import MotionVocab, NoMotionError, frames_to_tokens, motion_token_strings
from engine.models.text_tokenizer import add_motion_tokens, sentinel_ids, train_text_tokenizer
from engine.models.tokenizer import MotionTokenizer, TokenizerConfig

CODES = 16
CORPUS = [
    "a person walks forward and waves",
    "someone jumps twice in place",
    "a man runs in a circle",
    "Text to motion: the person kicks with the left leg",
    "Motion to text: describe it",
    "Predict the number of frames for: a person sits down",
    "It takes 80 frames.",
] * 5


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Decoding tiny models is many tiny matmuls: with 2 OpenMP threads on a busy machine each one
    waits for the other (see benchmarks/bench_motion_lm.py), so these tests use one."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def text_tokenizer_dir(tmp_path_factory):
    directory = tmp_path_factory.mktemp("text_tok")
    train_text_tokenizer(CORPUS, vocab_size=120, extra_ids=20).save_pretrained(str(directory))
    return directory


def tiny_lm(text_tokenizer_dir, seed=0) -> MotionLM:
    tokenizer = AutoTokenizer.from_pretrained(str(text_tokenizer_dir))
    return MotionLM.create(
        MotionLMConfig.preset("tiny", max_motion_codes=20, dropout_rate=0.0), tokenizer, CODES, seed=seed
    )


def tiny_vq() -> MotionTokenizer:
    torch.manual_seed(0)
    vq = MotionTokenizer(TokenizerConfig.preset("tiny", code_num=CODES)).eval()
    return vq


# --- vocabulary ---------------------------------------------------------------------------------
def test_serialise_parse_round_trip_and_token_layout(text_tokenizer_dir):
    tokenizer = AutoTokenizer.from_pretrained(str(text_tokenizer_dir))
    base = len(tokenizer)
    vocab = add_motion_tokens(tokenizer, CODES)
    assert vocab.offset == base and len(tokenizer) == base + CODES + 3
    codes = [3, 0, 15, 15, 7]
    text = "Motion to text: " + vocab.serialize(codes)
    assert text.endswith(
        f"<motion_id_{CODES}><motion_id_3><motion_id_0><motion_id_15><motion_id_15><motion_id_7><motion_id_{CODES + 1}>"
    )
    assert vocab.parse_text(text) == codes
    ids = tokenizer(text).input_ids
    assert vocab.parse_ids(ids) == codes
    motion_ids = [i for i in ids if vocab.offset <= i < vocab.stop]
    assert motion_ids == [vocab.start_id] + [vocab.offset + c for c in codes] + [vocab.end_id]
    assert tokenizer.decode(ids, skip_special_tokens=True).count("<motion_id_") == len(codes) + 2
    masked = vocab.serialize_masked(codes, 1, 3)
    assert masked.count(f"<motion_id_{CODES + 2}>") == 2 and vocab.parse_text(masked) == [3, 15, 7]
    assert add_motion_tokens(tokenizer, CODES) == vocab  # idempotent: tokens already present
    assert motion_token_strings(2) == [f"<motion_id_{i}>" for i in range(5)]


def test_parsing_without_a_valid_motion_raises_no_motion():
    vocab = MotionVocab(CODES, 100)
    with pytest.raises(NoMotionError, match="no start-of-motion") as caught:
        vocab.parse_text("a person walks")
    assert caught.value.code == "no_motion"
    with pytest.raises(NoMotionError, match="empty motion"):
        vocab.parse_text(f"<motion_id_{CODES}><motion_id_{CODES + 1}>")
    with pytest.raises(NoMotionError):
        vocab.parse_ids([5, 6, vocab.end_id])
    # truncated output keeps its codes; out-of-range numbers and mask tokens are not codes
    assert vocab.parse_text(
        f"x <motion_id_{CODES}><motion_id_4><motion_id_99><motion_id_{CODES + 2}><motion_id_5>"
    ) == [4, 5]
    with pytest.raises(InputError, match=r"\[0, 16\)"):
        vocab.serialize([1, 16])


def test_lengths_in_frames_and_seconds_become_codes():
    assert frames_to_tokens(196) == 49 and frames_to_tokens(seconds=2.0) == 10 and frames_to_tokens(3) == 1
    assert frames_to_tokens() is None
    with pytest.raises(InputError):
        frames_to_tokens(10, 1.0)
    with pytest.raises(InputError):
        frames_to_tokens(0)


# --- generation -----------------------------------------------------------------------------------
def test_constrained_generation_honours_lengths_and_emits_only_codes_inside_the_motion(text_tokenizer_dir):
    lm = tiny_lm(text_tokenizer_dir)
    vocab, eos = lm.vocab, lm.tokenizer.eos_token_id
    prompts = ["Text to motion: a person walks", "jump", "Text to motion: a man runs in a circle"]
    for seed in range(3):
        rows = lm.generate(prompts, "motion", [7, 1, None], Sampling(seed=seed, temperature=2.0, top_k=0))
        for row, expected in zip(rows, [7, 1, None]):
            assert row[0] == vocab.start_id and row[-1] == eos
            end = row.index(vocab.end_id)
            assert row[end + 1 :] == [eos]
            inner = row[1:end]
            assert all(vocab.is_code(t) for t in inner)
            assert len(inner) == expected if expected else 1 <= len(inner) <= lm.config.max_motion_codes
    # same seed, same sample; batched rows equal the same prompt decoded alone (greedy)
    a = lm.generate_motion(prompts, [5, 5, 5], Sampling(seed=11))
    assert a == lm.generate_motion(prompts, [5, 5, 5], Sampling(seed=11))
    greedy = Sampling(do_sample=False)
    assert lm.generate_motion(prompts, [4, 4, 4], greedy)[2] == lm.generate_motion(prompts[2:], [4], greedy)[0]
    with pytest.raises(InputError, match="out of range"):
        lm.generate_motion(prompts[:1], [lm.config.max_motion_codes + 1])


def test_text_outputs_contain_no_motion_tokens(text_tokenizer_dir):
    lm = tiny_lm(text_tokenizer_dir, seed=3)
    # bias the untrained model towards motion tokens: the constraint must still keep them out
    with torch.no_grad():
        lm.model.lm_head.weight[lm.vocab.offset : lm.vocab.stop] *= 50.0
    rows = lm.generate(
        ["Motion to text: " + lm.vocab.serialize([1, 2, 3])] * 2, "text", sampling=Sampling(seed=0, top_k=0)
    )
    assert all(not (lm.vocab.offset <= t < lm.vocab.stop) for row in rows for t in row)


def test_save_then_from_pretrained_gives_bit_identical_outputs(text_tokenizer_dir, tmp_path):
    lm = tiny_lm(text_tokenizer_dir, seed=5)
    lm.model.eval()
    directory = lm.save(tmp_path / "lm")
    assert {"config.json", "model.safetensors", "motion_lm.json"} <= {p.name for p in directory.iterdir()}
    # plain transformers opens it
    t5 = T5ForConditionalGeneration.from_pretrained(str(directory)).eval()
    tokenizer = AutoTokenizer.from_pretrained(str(directory))
    prompt = "Motion to text: " + lm.vocab.serialize([1, 2, 3, 4])
    assert tokenizer(prompt).input_ids == lm.tokenizer(prompt).input_ids
    batch = lm.encode_prompts([prompt])
    labels = torch.tensor([[lm.vocab.start_id, lm.vocab.offset + 2, lm.vocab.end_id, 1]])
    with torch.no_grad():
        assert torch.equal(t5(**batch, labels=labels).logits, lm.model(**batch, labels=labels).logits)
    loaded = MotionLM.load(directory)
    assert loaded.vocab == lm.vocab and loaded.config == lm.config
    sampling = Sampling(seed=4)
    assert loaded.generate_motion([prompt], [6], sampling) == lm.generate_motion([prompt], [6], sampling)
    assert json.loads((directory / "motion_lm.json").read_text())["code_num"] == CODES
    with pytest.raises(InputError, match="not a motion-language model"):
        MotionLM.load(tmp_path)


def test_a_span_corruption_tokenizer_has_t5_layout(text_tokenizer_dir):
    tokenizer = AutoTokenizer.from_pretrained(str(text_tokenizer_dir))
    assert (tokenizer.pad_token_id, tokenizer.eos_token_id, tokenizer.unk_token_id) == (0, 1, 2)
    ids = sentinel_ids(tokenizer, 20)
    assert len(set(ids)) == 20 and tokenizer("a person walks").input_ids[-1] == 1
    with pytest.raises(InputError, match="sentinel"):
        sentinel_ids(tokenizer, 21)


# --- converter ------------------------------------------------------------------------------------
@pytest.mark.parametrize("fmt", ["torch", "safetensors"])
def test_converter_on_a_synthetic_motiongpt_checkpoint(text_tokenizer_dir, tmp_path, fmt):
    from safetensors.torch import save_file

    from engine.models.motion_lm_convert import convert_motiongpt
    from engine.models.motion_tasks import codes_to_joints

    tokenizer = AutoTokenizer.from_pretrained(str(text_tokenizer_dir))
    rows = len(tokenizer) + CODES + 3
    torch.manual_seed(1)
    config = MotionLMConfig.preset("tiny", feed_forward_proj="gated-gelu").t5_config(rows, 0, 1)
    release_lm = T5ForConditionalGeneration(config).eval()
    release_vq = tiny_vq()
    state = {f"lm.language_model.{k}": v.clone() for k, v in release_lm.state_dict().items()}
    state["lm.language_model.lm_head.weight"] = torch.randn(rows, 32)  # FLAN-T5 style untied output head
    state.update({f"vae.{k}": v for k, v in release_vq.state_dict().items()})
    state["metrics.t2m_evaluator.weight"] = torch.ones(3)  # evaluator copies are ignored
    path = tmp_path / ("release.safetensors" if fmt == "safetensors" else "release.tar")
    if fmt == "safetensors":
        save_file({k: v.contiguous() for k, v in state.items()}, path)
    else:
        torch.save({"state_dict": state, "epoch": 3}, path)
    mean, std = np.full(263, 0.5, np.float32), np.full(263, 2.0, np.float32)
    lm_dir, vq_dir = convert_motiongpt(path, text_tokenizer_dir, tmp_path / "out", mean, std)
    lm, vq = MotionLM.load(lm_dir), MotionTokenizer.load(vq_dir)
    assert lm.vocab == MotionVocab(CODES, len(tokenizer)) and lm.config.num_layers == 2
    converted = lm.model.state_dict()
    for key, value in state.items():
        if key.startswith("lm.language_model."):
            assert torch.equal(converted[key[len("lm.language_model.") :]], value), key
    assert not lm.model.config.scale_decoder_outputs  # T5 v1.1 semantics for an untied head
    assert torch.equal(vq.quantizer.codebook, release_vq.quantizer.codebook)
    assert torch.equal(vq.std, torch.from_numpy(std))
    assert codes_to_joints(vq, [1, 2]).shape == (8, 22, 3)


def test_converter_names_a_checkpoint_without_a_language_model(text_tokenizer_dir, tmp_path):
    from safetensors.torch import save_file

    from engine.models.motion_lm_convert import convert_motiongpt

    save_file({"vae.quantizer.codebook": torch.zeros(4, 4)}, tmp_path / "vq_only.safetensors")
    with pytest.raises(InputError, match="lm.language_model"):
        convert_motiongpt(tmp_path / "vq_only.safetensors", text_tokenizer_dir, tmp_path / "out")


# --- tasks ----------------------------------------------------------------------------------------
def test_task_functions_return_exactly_the_frames_asked_for(text_tokenizer_dir):
    from engine.models import motion_tasks as tasks
    from engine.motion.features import features_to_joints

    lm, vq = tiny_lm(text_tokenizer_dir, seed=2), tiny_vq()
    sampling = Sampling(seed=0)
    (joints,) = tasks.generate(lm, vq, ["a person walks"], [30], sampling)
    assert joints.shape == (30, 22, 3) and joints.dtype == np.float32 and np.isfinite(joints).all()
    (free,) = tasks.generate(lm, vq, ["a person walks"], [None], sampling)
    assert free.ndim == 3 and free.shape[1:] == (22, 3) and len(free) % 4 == 0
    batch = tasks.generate(lm, vq, ["walk", "run fast"], [7, 16], sampling)
    assert [m.shape for m in batch] == [(7, 22, 3), (16, 22, 3)]
    clip = features_to_joints(np.random.default_rng(0).normal(size=(41, 263)).astype(np.float32) * 0.1)
    assert tasks.continue_motion(lm, vq, clip, 13, sampling).shape == (13, 22, 3)  # only the new frames
    gap = tasks.fill_gap(lm, vq, clip[:21], clip[30:], 9, sampling)
    assert gap.shape == (9, 22, 3)  # only the frames strictly between clip[20] and clip[30]
    texts = tasks.caption(lm, vq, [clip, clip[:1]])
    assert len(texts) == 2 and all(isinstance(t, str) for t in texts)
    with pytest.raises(InputError, match=r"\(T, 22, 3\)"):
        tasks.caption(lm, vq, [np.zeros((10, 21, 3))])
    with pytest.raises(InputError, match="non-empty"):
        tasks.generate(lm, vq, ["  "], [8], sampling)


def test_a_local_pretrained_t5_is_extended_by_the_motion_tokens(text_tokenizer_dir, tmp_path):
    tokenizer = AutoTokenizer.from_pretrained(str(text_tokenizer_dir))
    torch.manual_seed(0)
    t5 = T5ForConditionalGeneration(MotionLMConfig.preset("tiny").t5_config(len(tokenizer), 0, 1))
    t5.save_pretrained(str(tmp_path / "t5"))
    tokenizer.save_pretrained(str(tmp_path / "t5"))
    lm = MotionLM.from_pretrained_t5(tmp_path / "t5", CODES, max_motion_codes=12)
    assert lm.vocab == MotionVocab(CODES, len(tokenizer)) and lm.config.max_motion_codes == 12
    assert lm.model.get_input_embeddings().weight.shape[0] == len(tokenizer) + CODES + 3
    assert torch.equal(lm.model.shared.weight[: len(tokenizer)], t5.shared.weight)  # text rows kept
    assert len(lm.generate_motion(["Text to motion: a person walks"], [5], Sampling(seed=0))[0]) == 5
