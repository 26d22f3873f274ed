"""The fast decoder (engine/models/fast_decode.py) against Hugging Face `generate`, the reference.

How sampled decodes are compared: both paths run under `Sampling(seed=...)`, i.e. torch's global
generator forked and seeded by MotionLM.generate; both apply the same warpers (HF's own classes) and
draw once per step with `torch.multinomial` over the whole `(B, V)` probabilities, so with fp32
weights they consume the generator identically and must give identical tokens. fp16 weights are a
different computation: they are held to agreement on the shipped model, not to identity by design.
"""

import pytest
import torch
from transformers import AutoTokenizer

from engine.bundle import default_bundle_dir
from engine.models import fast_decode
from engine.models.motion_constraints import MotionOutputConstraint, TextOutputConstraint
from engine.models.motion_lm import MotionLM, MotionLMConfig, Sampling
from engine.models.text_tokenizer import train_text_tokenizer

CODES = 16
CORPUS = [
    "a person walks forward and waves",
    "someone jumps twice in place",
    "Text to motion: the person kicks with the left leg",
    "Motion to text: describe it",
] * 5
PROMPTS = ["Text to motion: a person walks", "jump", "Text to motion: a man runs in a circle and then sits down"]
SAMPLINGS = [
    Sampling(do_sample=False),
    Sampling(seed=0),
    Sampling(seed=7, temperature=2.0, top_k=0),
    Sampling(seed=3, temperature=0.7, top_k=5, top_p=0.8),
]


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> MotionLM:
    directory = tmp_path_factory.mktemp("text_tok")
    train_text_tokenizer(CORPUS, vocab_size=120, extra_ids=20).save_pretrained(str(directory))
    tokenizer = AutoTokenizer.from_pretrained(str(directory))
    config = MotionLMConfig.preset("tiny", max_motion_codes=20, dropout_rate=0.0)
    lm = MotionLM.create(config, tokenizer, CODES, seed=0)
    lm.model.eval()
    lm.weights = "fp32"
    return lm


@pytest.fixture(scope="module")
def shipped() -> MotionLM:
    return MotionLM.load(default_bundle_dir() / "language_model")


@pytest.mark.parametrize("sampling", SAMPLINGS, ids=["greedy", "seed0", "hot", "top_p"])
def test_fast_and_hf_generate_give_the_same_tokens(tiny, sampling):
    for lengths in ([7, 1, None], [None, None, None], [20, 20, 20]):
        hf = tiny.generate(PROMPTS, "motion", lengths, sampling, decoder="hf")
        fast = tiny.generate(PROMPTS, "motion", lengths, sampling, decoder="fast")
        assert fast == hf, (lengths, sampling)
    text = ["Motion to text: " + tiny.vocab.serialize([1, 2, 3]), "Motion to text: describe it"]
    assert tiny.generate(text, "text", sampling=sampling, decoder="fast") == tiny.generate(
        text, "text", sampling=sampling, decoder="hf"
    )


def test_fast_and_hf_agree_on_the_shipped_model(shipped):
    shipped.weights = "fp32"
    prompts = ["Text to motion: a person walks forward, turns around and waves", "Text to motion: someone jumps"]
    for sampling in (Sampling(do_sample=False), Sampling(seed=5)):
        hf = shipped.generate(prompts, "motion", [49, 12], sampling, decoder="hf")
        assert shipped.generate(prompts, "motion", [49, 12], sampling, decoder="fast") == hf
        assert [len(row) for row in hf] == [52, 15]  # <start> codes <end> </s>


def test_fp16_weights_keep_the_shipped_models_tokens(shipped):
    """fp16 weights (the default on x86) against fp32 on the shipped model: 8 prompts x 52 tokens,
    greedy and sampled. Measured: identical on all of them (docs/motion_lm.md, "Decoding")."""
    if not fast_decode.weights_available("fp16"):
        pytest.skip("FBGEMM is not available on this CPU")
    prompts = [
        f"Text to motion: {c}"
        for c in (
            "a person walks forward",
            "someone jumps twice in place",
            "a man runs in a circle",
            "the person kicks with the left leg",
            "a person waves with the right hand",
            "a person sits down",
            "someone crouches and stands up",
            "a person turns around and walks back",
        )
    ]
    rows = {}
    for weights in ("fp32", "fp16"):
        shipped.weights = weights
        rows[weights] = shipped.generate(prompts, "motion", [49] * 8, Sampling(seed=1)) + shipped.generate(
            prompts, "motion", [49] * 8, Sampling(do_sample=False)
        )
    same = sum(a == b for x, y in zip(rows["fp32"], rows["fp16"]) for a, b in zip(x, y))
    assert same / sum(len(x) for x in rows["fp32"]) >= 0.95
    # fp16 rows depend on themselves only: a prompt decodes the same alone and in a batch
    alone = shipped.generate(prompts[2:3], "motion", [49], Sampling(do_sample=False))[0]
    assert rows["fp16"][8 + 2] == alone


def test_step_masks_allow_exactly_what_the_logits_processor_allows(tiny):
    """The precomputed masks against MotionOutputConstraint.__call__ on a real decode's prefixes."""
    vocab, eos = tiny.vocab, tiny.tokenizer.eos_token_id
    lengths = [3, None, 1, None]
    constraint = MotionOutputConstraint(vocab, eos, lengths, max_codes=6)
    batch = tiny.encode_prompts(PROMPTS + ["walk"])
    fast = tiny.fast_model()
    masks = constraint.step_masks(4, 9, fast.vocab_size)
    rows = fast.generate(batch["input_ids"], batch["attention_mask"], masks, 9, Sampling(seed=2, top_k=0), eos, 0, 0)
    state = masks.start(4)
    scores = torch.randn(rows.shape[1] - 1, 4, fast.vocab_size)
    for t in range(rows.shape[1] - 1):
        expected = torch.isfinite(constraint(rows[:, : t + 1], scores[t].clone()))
        got = torch.isfinite(masks.apply(t, scores[t].clone(), state))
        finished = (rows[:, 1 : t + 1] == eos).any(1)  # generate pads finished rows: not compared
        assert torch.equal(got[~finished], expected[~finished]), t
        masks.update(state, rows[:, t + 1])
    text = TextOutputConstraint(vocab).step_masks(2, 3, fast.vocab_size)
    row = torch.isfinite(text.apply(1, torch.zeros(2, fast.vocab_size), text.start(2)))
    assert not row[:, vocab.offset : vocab.stop].any() and row[:, : vocab.offset].all()


def test_changed_weights_rebuild_the_fast_model(tiny):
    greedy = Sampling(do_sample=False)
    first = tiny.fast_model()
    assert tiny.fast_model() is first  # cached while the weights stay
    before = tiny.generate(PROMPTS, "motion", [8, 8, 8], greedy)
    saved = tiny.model.lm_head.weight.detach().clone()
    try:
        with torch.no_grad():
            tiny.model.lm_head.weight.mul_(-3.0)  # an optimizer step or load_state_dict changes them in place
        assert tiny.fast_model() is not first
        after = tiny.generate(PROMPTS, "motion", [8, 8, 8], greedy)
        assert after == tiny.generate(PROMPTS, "motion", [8, 8, 8], greedy, decoder="hf")
        assert after != before
    finally:
        with torch.no_grad():
            tiny.model.lm_head.weight.copy_(saved)


def test_options_are_checked(tiny):
    assert not fast_decode.weights_available("fp16", "cuda") and fast_decode.weights_available("fp32", "cuda")
    with pytest.raises(ValueError, match="weights"):
        fast_decode.FastT5(tiny.model, "int4")
    with pytest.raises(Exception, match="decoder"):
        tiny.generate(PROMPTS, "motion", [2, 2, 2], decoder="beam")
