"""The MiniLM text prefix of the motion-language model (engine/models/text_prefix.py): the real frozen
all-MiniLM-L6-v2 from its package, a tiny T5, both decoders, save/load, and the training wrapper."""

import pytest
import torch
from transformers import AutoTokenizer

from engine.models.motion_lm import MotionLM, MotionLMConfig, Sampling
from engine.models.text_prefix import PREFIX_FILE
from engine.models.text_tokenizer import train_text_tokenizer
from trainer.stages.lm_data import Example, collate, without_caption

CODES = 16
CORPUS = ["a person walks forward and waves", "someone jumps twice in place", "Text to motion: kick"] * 5
PROMPTS = ["Text to motion: a person walks", "Text to motion:", "Text to motion: a man jumps"]
CONDITIONS = ["a person walks", "someone strolls ahead", None]


@pytest.fixture(scope="module")
def lms(tmp_path_factory) -> tuple[MotionLM, MotionLM]:
    """The same tiny T5 weights with and without a 3-vector prefix."""
    directory = tmp_path_factory.mktemp("text_tok")
    train_text_tokenizer(CORPUS, vocab_size=120, extra_ids=20).save_pretrained(str(directory))
    config = MotionLMConfig.preset("tiny", max_motion_codes=20, dropout_rate=0.0)
    plain = MotionLM.create(config, AutoTokenizer.from_pretrained(str(directory)), CODES, seed=0)
    prefixed_config = MotionLMConfig.preset("tiny", max_motion_codes=20, dropout_rate=0.0, text_prefix_tokens=3)
    prefixed = MotionLM.create(prefixed_config, AutoTokenizer.from_pretrained(str(directory)), CODES, seed=0)
    prefixed.model.load_state_dict(plain.model.state_dict())
    for lm in (plain, prefixed):
        lm.model.eval()
        lm.weights = "fp32"
    return plain, prefixed


@pytest.mark.parametrize("sampling", [Sampling(do_sample=False), Sampling(seed=3, top_k=5)])
def test_fast_decoder_matches_generate_with_a_prefix(lms, sampling):
    _, lm = lms
    fast = lm.generate(PROMPTS, "motion", [5, 5, 5], sampling, decoder="fast", conditions=CONDITIONS)
    reference = lm.generate(PROMPTS, "motion", [5, 5, 5], sampling, decoder="hf", conditions=CONDITIONS)
    assert fast == reference


def test_a_masked_prefix_leaves_the_model_as_it_was(lms):
    plain, prefixed = lms
    batch = plain.encode_prompts(PROMPTS)
    without = plain.model(**batch, decoder_input_ids=batch["input_ids"][:, :4]).logits
    inputs = prefixed.encoder_batch(batch["input_ids"], batch["attention_mask"], [None, None, None])
    masked = prefixed.model(**inputs, decoder_input_ids=batch["input_ids"][:, :4]).logits
    assert inputs["inputs_embeds"].shape[1] == batch["input_ids"].shape[1] + 3
    torch.testing.assert_close(masked, without, atol=1e-5, rtol=1e-5)
    shown = prefixed.encoder_batch(batch["input_ids"], batch["attention_mask"], CONDITIONS)
    changed = prefixed.model(**shown, decoder_input_ids=batch["input_ids"][:, :4]).logits
    assert (changed[0] - without[0]).abs().max() > 1e-3  # a caption's prefix does reach the output


def test_paraphrases_get_nearer_prefixes_than_other_actions(lms):
    _, lm = lms
    vectors, present = lm.sentence_vectors(["a person walks forward", "someone strolls ahead", "a person jumps", None])
    assert present.tolist() == [True, True, True, False]
    assert float(vectors[0] @ vectors[1]) > float(vectors[0] @ vectors[2])
    assert float(vectors[3].abs().sum()) == 0.0


def test_save_and_load_keep_the_prefix(lms, tmp_path):
    _, lm = lms
    lm.save(tmp_path / "lm")
    assert (tmp_path / "lm" / PREFIX_FILE).is_file()
    loaded = MotionLM.load(tmp_path / "lm")
    loaded.weights = "fp32"
    assert loaded.config.text_prefix_tokens == 3
    for name, value in lm.text_prefix.state_dict().items():
        assert torch.equal(loaded.text_prefix.state_dict()[name], value)
    sampling = Sampling(do_sample=False)
    assert loaded.generate(PROMPTS, "motion", [4, 4, 4], sampling, conditions=CONDITIONS) == lm.generate(
        PROMPTS, "motion", [4, 4, 4], sampling, conditions=CONDITIONS
    )


def test_training_wrapper_gives_the_generation_path_s_loss_and_trains_the_prefix(lms):
    _, lm = lms
    examples = [
        Example(lm.tokenizer(p).input_ids, lm.tokenizer("a b").input_ids, "t2m", c or "")
        for p, c in zip(PROMPTS, CONDITIONS)
    ]
    batch = collate(examples, lm.tokenizer.pad_token_id, lm.sentence_vectors)
    module = lm.trainable()
    loss = module(**batch).loss
    direct = lm.model(
        **lm.encoder_batch(batch["input_ids"], batch["attention_mask"], CONDITIONS), labels=batch["labels"]
    ).loss
    torch.testing.assert_close(loss, direct)
    loss.backward()
    assert lm.text_prefix.project.weight.grad.abs().sum() > 0
    lm.model.zero_grad(set_to_none=True)
    lm.text_prefix.zero_grad(set_to_none=True)


def test_without_caption_leaves_the_task_words():
    assert without_caption("Text to motion: a person walks", "a person walks") == "Text to motion:"
    assert without_caption('Show "a man bows" in 40 frames', "a man bows") == 'Show "" in 40 frames'
