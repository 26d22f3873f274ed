"""Motion-language model: one T5 encoder-decoder over text tokens plus `<motion_id_k>` motion tokens.

MotionGPT's design (Jiang et al. 2023; github.com/OpenMotionLab/MotionGPT, `mGPT/archs/mgpt_lm.py`): a Hugging Face `T5ForConditionalGeneration`
whose vocabulary is a text tokenizer's plus K + 3 motion tokens (engine.models.motion_vocab). Every
task is a prompt -> output translation; motion outputs are decoded under the constraints of
engine.models.motion_constraints and parsed back into codes for the motion tokenizer.

A saved model is a Hugging Face directory that `T5ForConditionalGeneration.from_pretrained(dir)` and
`AutoTokenizer.from_pretrained(dir)` open (config.json, model.safetensors, tokenizer files) plus
`motion_lm.json` (the motion vocabulary and this wrapper's config). Nothing is ever downloaded.

    lm = MotionLM.load("bundle/lm")
    codes = lm.generate_motion(["Text to motion: a person walks forward"], lengths=[49], sampling=Sampling(seed=0))
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import torch
from transformers import LogitsProcessorList, T5Config, T5ForConditionalGeneration

from engine.errors import InputError
from engine.models import fast_decode
from engine.models.motion_constraints import MotionOutputConstraint, TextOutputConstraint
from engine.models.motion_vocab import MotionVocab, NoMotionError
from engine.models.text_encoder import MINILM_DIM, FrozenMiniLM
from engine.models.text_prefix import TextPrefix, encoder_inputs
from engine.models.text_tokenizer import add_motion_tokens, load_text_tokenizer

MOTION_LM_FILE = "motion_lm.json"
FORMAT = "motion-copilot/motion-lm"
FEED_FORWARD = ("relu", "gated-gelu")
DECODERS = ("fast", "hf")  # engine.models.fast_decode, or Hugging Face `generate` (the reference)
DEFAULT_WEIGHTS = "fp16"  # same tokens as fp32 on every prompt measured, ~2x faster (docs/motion_lm.md)

# Architectures. `small` is the CPU default (text-to-motion of 196 frames on one CPU thread:
# benchmarks/bench_motion_lm.py, benchmarks/bench_realtime.py); `motiongpt_base` has FLAN-T5-base shapes (the released MotionGPT).
PRESETS: dict[str, dict] = {
    "tiny": {"d_model": 32, "d_ff": 64, "num_layers": 2, "num_decoder_layers": 2, "num_heads": 2, "d_kv": 16},
    "small": {"d_model": 256, "d_ff": 1024, "num_layers": 4, "num_decoder_layers": 4, "num_heads": 4, "d_kv": 64},
    "motiongpt_base": {
        "d_model": 768,
        "d_ff": 2048,
        "num_layers": 12,
        "num_decoder_layers": 12,
        "num_heads": 12,
        "d_kv": 64,
    },
}


@dataclass
class MotionLMConfig:
    """T5 shape plus the decoding limits of the wrapper. JSON-serialisable, no torch."""

    d_model: int = 256
    d_ff: int = 1024
    num_layers: int = 4
    num_decoder_layers: int = 4
    num_heads: int = 4
    d_kv: int = 64
    feed_forward_proj: str = "gated-gelu"
    dropout_rate: float = 0.1
    relative_attention_num_buckets: int = 32
    relative_attention_max_distance: int = 128
    max_input_tokens: int = 256  # prompts are truncated here (MotionGPT: 256)
    max_motion_codes: int = 50  # 200 frames; MotionGPT's longest motion is 196 frames = 49 codes
    max_text_tokens: int = 40  # MotionGPT decodes captions greedily up to 40 tokens
    fps: float = 20.0
    downsample: int = 4  # frames per motion code (the tokenizer's temporal down-sampling)
    # The frozen MiniLM sentence vector of the caption enters as this many encoder-input vectors
    # (engine.models.text_prefix); 0: the T5's own text path only (the from-scratch baseline).
    text_prefix_tokens: int = 0
    caption_in_prompt: bool = True  # False: a caption reaches the model through the prefix alone

    def __post_init__(self) -> None:
        if self.feed_forward_proj not in FEED_FORWARD:
            raise ValueError(f"MotionLMConfig.feed_forward_proj={self.feed_forward_proj!r}; allowed: {FEED_FORWARD}")
        for name in (
            "d_model",
            "d_ff",
            "num_layers",
            "num_decoder_layers",
            "num_heads",
            "d_kv",
            "max_input_tokens",
            "max_motion_codes",
            "max_text_tokens",
            "downsample",
        ):
            if getattr(self, name) < 1:
                raise ValueError(f"MotionLMConfig.{name}={getattr(self, name)} must be a positive integer")

    @classmethod
    def preset(cls, name: str, **overrides) -> MotionLMConfig:
        if name not in PRESETS:
            raise ValueError(f"motion LM preset {name!r} is unknown; choose one of {sorted(PRESETS)}")
        return cls(**{**PRESETS[name], **overrides})

    def t5_config(self, vocab_size: int, pad_id: int, eos_id: int):
        """A from-scratch T5Config: embeddings tied to the output head with T5's d_model**-0.5 output
        scaling (transformers 5 always ties T5 built from a config; untied heads only come from
        checkpoints, e.g. FLAN-T5 via `from_pretrained_t5` or the converter)."""
        return T5Config(
            vocab_size=vocab_size,
            d_model=self.d_model,
            d_kv=self.d_kv,
            d_ff=self.d_ff,
            num_layers=self.num_layers,
            num_decoder_layers=self.num_decoder_layers,
            num_heads=self.num_heads,
            feed_forward_proj=self.feed_forward_proj,
            dropout_rate=self.dropout_rate,
            tie_word_embeddings=True,
            relative_attention_num_buckets=self.relative_attention_num_buckets,
            relative_attention_max_distance=self.relative_attention_max_distance,
            pad_token_id=pad_id,
            eos_token_id=eos_id,
            decoder_start_token_id=pad_id,
        )


@dataclass
class Sampling:
    """Decoding options: `do_sample` False is greedy; seed makes sampling repeatable."""

    do_sample: bool = True
    temperature: float = 1.0
    top_k: int = 50
    top_p: float = 1.0
    seed: int | None = None

    def __post_init__(self) -> None:
        if not self.temperature > 0:
            raise InputError(f"temperature must be positive, got {self.temperature}")
        if self.top_k < 0 or not 0 < self.top_p <= 1:
            raise InputError(f"top_k must be >= 0 and top_p in (0, 1], got top_k={self.top_k}, top_p={self.top_p}")

    def generate_kwargs(self) -> dict:
        if not self.do_sample:
            return {"do_sample": False}
        return {"do_sample": True, "temperature": self.temperature, "top_k": self.top_k, "top_p": self.top_p}


class MotionLM:
    """A T5 model, its tokenizer (text + motion tokens) and where the motion tokens are.

    decoder: "fast" (default: engine.models.fast_decode, the same tokens as `generate` at a fraction
    of the per-step cost) or "hf" (Hugging Face `generate`, the reference).
    weights: the fast decoder's decoder-side weights, "fp32" (the same tokens as `generate`), "fp16"
    or "int8" (fast_decode.WEIGHTS; fewer bytes per step; docs/motion_lm.md "Decoding" has the
    measured speed and agreement). Where FBGEMM is missing (non-x86 CPUs, GPUs) fp32 is used.
    Both default to the environment's MOTION_LM_DECODER / MOTION_LM_WEIGHTS, else "fast" / "fp16"
    (how a benchmark switches a running server without a new CLI flag).
    """

    def __init__(
        self,
        model,
        tokenizer,
        vocab: MotionVocab,
        config: MotionLMConfig,
        decoder: str | None = None,
        weights: str | None = None,
        text_prefix: TextPrefix | None = None,
    ) -> None:
        if (text_prefix is None) != (config.text_prefix_tokens == 0):
            raise InputError(f"text_prefix_tokens={config.text_prefix_tokens} but the prefix module is {text_prefix}")
        self.model = model
        self.text_prefix = text_prefix
        self.sentence_encoder: FrozenMiniLM | None = None  # made on first use, or shared (use_sentence_encoder)
        self.tokenizer = tokenizer
        self.vocab = vocab
        self.config = config
        self.decoder = decoder or os.environ.get("MOTION_LM_DECODER", "fast")
        self.weights = weights or os.environ.get("MOTION_LM_WEIGHTS", DEFAULT_WEIGHTS)
        if self.decoder not in DECODERS or self.weights not in fast_decode.WEIGHTS:
            raise InputError(
                f"motion LM decoder {self.decoder!r} / weights {self.weights!r}: choose a decoder of "
                f"{DECODERS} and weights of {fast_decode.WEIGHTS} (MOTION_LM_DECODER, MOTION_LM_WEIGHTS)"
            )
        self._fast: fast_decode.FastT5 | None = None

    # --- construction -------------------------------------------------------------------------
    @classmethod
    def create(cls, config: MotionLMConfig, text_tokenizer, code_num: int, seed: int | None = None) -> MotionLM:
        """A randomly initialised T5 over `text_tokenizer` + K motion tokens (the tokenizer is extended in place)."""
        vocab = add_motion_tokens(text_tokenizer, code_num)
        if seed is not None:
            torch.manual_seed(seed)
        t5 = config.t5_config(len(text_tokenizer), text_tokenizer.pad_token_id, text_tokenizer.eos_token_id)
        prefix = TextPrefix(config.text_prefix_tokens, config.d_model) if config.text_prefix_tokens else None
        return cls(T5ForConditionalGeneration(t5), text_tokenizer, vocab, config, text_prefix=prefix)

    @classmethod
    def from_pretrained_t5(cls, t5_dir: str | Path, code_num: int, **overrides) -> MotionLM:
        """Start from a local pretrained T5 (e.g. FLAN-T5): its weights and tokenizer, embeddings grown
        by the K + 3 motion tokens (MotionGPT's resize_token_embeddings)."""
        tokenizer = load_text_tokenizer(t5_dir)
        model = T5ForConditionalGeneration.from_pretrained(str(t5_dir), local_files_only=True)
        vocab = add_motion_tokens(tokenizer, code_num)
        model.resize_token_embeddings(len(tokenizer))
        return cls(model, tokenizer, vocab, config_from_t5(model.config, **overrides))

    # --- persistence ----------------------------------------------------------------------------
    def save(self, directory: str | Path) -> Path:
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        self.model.save_pretrained(str(directory))
        self.tokenizer.save_pretrained(str(directory))
        if self.text_prefix is not None:
            self.text_prefix.save(directory)
        meta = {
            "format": FORMAT,
            "version": 1,
            "code_num": self.vocab.code_num,
            "motion_token_offset": self.vocab.offset,
            "config": asdict(self.config),
        }
        (directory / MOTION_LM_FILE).write_text(json.dumps(meta, indent=2))
        return directory

    @classmethod
    def load(cls, directory: str | Path, device: str | torch.device = "cpu") -> MotionLM:
        directory = Path(directory)
        meta_path = directory / MOTION_LM_FILE
        if not meta_path.is_file():
            raise InputError(
                f"{directory} is not a motion-language model directory (no {MOTION_LM_FILE}); "
                "train one with `motion-train pretrain` or convert a MotionGPT release"
            )
        meta = json.loads(meta_path.read_text())
        known = {f.name for f in fields(MotionLMConfig)}
        config = MotionLMConfig(**{k: v for k, v in meta["config"].items() if k in known})
        tokenizer = load_text_tokenizer(directory)
        model = T5ForConditionalGeneration.from_pretrained(str(directory), local_files_only=True)
        vocab = MotionVocab(int(meta["code_num"]), int(meta["motion_token_offset"]))
        if tokenizer.convert_tokens_to_ids(f"<motion_id_{vocab.code_num + 2}>") != vocab.mask_id:
            raise InputError(f"{directory}: tokenizer files and {MOTION_LM_FILE} disagree on the motion tokens")
        prefix = None
        if config.text_prefix_tokens:
            prefix = TextPrefix(config.text_prefix_tokens, config.d_model)
            prefix.load_(directory)
            prefix = prefix.to(device).eval()
        return cls(model.to(device).eval(), tokenizer, vocab, config, text_prefix=prefix)

    # --- the sentence-encoder prefix ------------------------------------------------------------
    def use_sentence_encoder(self, encoder: FrozenMiniLM) -> None:
        """Share an already loaded MiniLM (the engine's prompt gate holds one) instead of loading another."""
        self.sentence_encoder = encoder

    def trainable(self) -> torch.nn.Module:
        """The module a training loop optimises: the T5 alone, or the T5 with its text prefix."""
        return self.model if self.text_prefix is None else ConditionedT5(self.model, self.text_prefix)

    def sentence_vectors(
        self, conditions: Sequence[str | None], remember: bool = False
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """MiniLM vectors `(B, 384)` of the captions and `(B,)` bool of which rows have one.

        remember: keep each caption's vector (training: a fixed caption set drawn again and again);
        off by default, since a server meets endless new prompts and must not grow with them."""
        if self.sentence_encoder is None:
            self.sentence_encoder = FrozenMiniLM(purpose="this motion-language model reads captions through MiniLM")
        texts = [c for c in conditions if c]
        embed = self.sentence_encoder.embed if remember else self.sentence_encoder.embed_uncached
        embedded = iter(embed(texts)) if texts else iter(())
        vectors = torch.stack([next(embedded) if c else torch.zeros(MINILM_DIM) for c in conditions])
        present = torch.tensor([bool(c) for c in conditions])
        return vectors.to(self.device), present.to(self.device)

    def encoder_batch(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor, conditions: Sequence[str | None] | None
    ) -> dict[str, torch.Tensor]:
        """What the T5 encoder reads: `input_ids` or, with a text prefix, `inputs_embeds` `(B, P + L, d)`."""
        if self.text_prefix is None:
            return {"input_ids": input_ids, "attention_mask": attention_mask}
        vectors, present = self.sentence_vectors(conditions or [None] * input_ids.shape[0])
        embeds, mask = encoder_inputs(
            self.model.get_input_embeddings(), self.text_prefix, input_ids, attention_mask, vectors, present
        )
        return {"inputs_embeds": embeds, "attention_mask": mask}

    # --- generation -----------------------------------------------------------------------------
    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    def encode_prompts(self, prompts: Sequence[str]) -> dict[str, torch.Tensor]:
        """Tokenised, padded prompts: input_ids and attention_mask `(B, L)` on the model's device."""
        if not prompts or any(not isinstance(p, str) or not p.strip() for p in prompts):
            raise InputError("prompts must be a non-empty list of non-empty strings")
        batch = self.tokenizer(
            list(prompts), padding=True, truncation=True, max_length=self.config.max_input_tokens, return_tensors="pt"
        )
        return {
            "input_ids": batch["input_ids"].to(self.device),
            "attention_mask": batch["attention_mask"].to(self.device),
        }

    def fast_model(self) -> fast_decode.FastT5:
        """The fast decoder's view of the weights, rebuilt when the HF module's weights changed."""
        weights = self.weights if fast_decode.weights_available(self.weights, self.device) else "fp32"
        if self._fast is None or self._fast.weights != weights or self._fast.stale(self.model):
            self._fast = fast_decode.FastT5(self.model, weights)
        return self._fast

    @torch.no_grad()
    def generate(
        self,
        prompts: Sequence[str],
        output: str,
        lengths: Sequence[int | None] | None = None,
        sampling: Sampling | None = None,
        decoder: str | None = None,
        conditions: Sequence[str | None] | None = None,
    ) -> list[list[int]]:
        """Decode a batch of prompts under the constraints of `output` ("motion" or "text").

        lengths: motion codes per prompt (None entries: the model decides, up to max_motion_codes).
        conditions: per prompt, the caption it holds (read by the sentence-encoder prefix) or None.
        decoder: "fast" or "hf" (default: `self.decoder`); both give the same tokens for the same seed.
        Returns the generated token ids per prompt (decoder start and padding removed).
        """
        decoder = decoder or self.decoder
        if decoder not in DECODERS:
            raise InputError(f"decoder must be one of {DECODERS}, got {decoder!r}")
        sampling = sampling or Sampling(do_sample=(output == "motion"))
        if output == "motion":
            lengths = list(lengths) if lengths is not None else [None] * len(prompts)
            if len(lengths) != len(prompts):
                raise InputError(f"{len(lengths)} lengths for {len(prompts)} prompts")
            for n in lengths:
                if n is not None and not 1 <= n <= self.config.max_motion_codes:
                    raise InputError(
                        f"requested motion length of {n} codes ({n * self.config.downsample} frames) "
                        f"is out of range: this model makes 1 to {self.config.max_motion_codes} codes"
                    )
            longest = max((n if n is not None else self.config.max_motion_codes) for n in lengths)
            constraint = MotionOutputConstraint(
                self.vocab, self.tokenizer.eos_token_id, lengths, self.config.max_motion_codes
            )
            max_new_tokens = longest + 3  # <start> codes <end> </s>
        elif output == "text":
            constraint, max_new_tokens = TextOutputConstraint(self.vocab), self.config.max_text_tokens
        else:
            raise InputError(f"output must be 'motion' or 'text', got {output!r}")
        batch = self.encode_prompts(prompts)
        if conditions is not None and len(conditions) != len(prompts):
            raise InputError(f"{len(conditions)} conditions for {len(prompts)} prompts")
        encoder_batch = self.encoder_batch(batch["input_ids"], batch["attention_mask"], conditions)
        if decoder == "fast" and fast_decode.supported(self.model):
            with torch.random.fork_rng(devices=[]):
                if sampling.seed is not None:
                    torch.manual_seed(sampling.seed)
                fast = self.fast_model()
                masks = constraint.step_masks(len(prompts), max_new_tokens, fast.vocab_size, self.device)
                sequences = fast.generate(
                    batch["input_ids"],
                    encoder_batch["attention_mask"],
                    masks,
                    max_new_tokens,
                    sampling,
                    eos_id=self.tokenizer.eos_token_id,
                    pad_id=self.tokenizer.pad_token_id,
                    start_id=self.model.config.decoder_start_token_id,
                    inputs_embeds=encoder_batch.get("inputs_embeds"),
                )
            pad = self.tokenizer.pad_token_id
            return [[int(t) for t in row[1:] if int(t) != pad] for row in sequences.tolist()]
        was_training = self.model.training
        self.model.eval()
        try:
            with torch.random.fork_rng(devices=[]):
                if sampling.seed is not None:
                    torch.manual_seed(sampling.seed)
                sequences = self.model.generate(
                    **encoder_batch,
                    logits_processor=LogitsProcessorList([constraint]),
                    max_new_tokens=max_new_tokens,
                    num_beams=1,
                    use_cache=True,
                    **sampling.generate_kwargs(),
                )
        finally:
            self.model.train(was_training)
        pad = self.tokenizer.pad_token_id
        return [[int(t) for t in row[1:] if int(t) != pad] for row in sequences.cpu()]

    def generate_motion(
        self,
        prompts: Sequence[str],
        lengths: Sequence[int | None] | None = None,
        sampling: Sampling | None = None,
        conditions: Sequence[str | None] | None = None,
    ) -> list[list[int]]:
        """Motion codes (0..K-1) per prompt. Raises NoMotionError naming the prompt with no motion."""
        results = []
        for index, row in enumerate(self.generate(prompts, "motion", lengths, sampling, conditions=conditions)):
            try:
                results.append(self.vocab.parse_ids(row))
            except NoMotionError as error:
                raise NoMotionError(f"prompt {index} ({prompts[index][:60]!r}): {error}") from None
        return results

    def generate_text(self, prompts: Sequence[str], sampling: Sampling | None = None) -> list[str]:
        """Text per prompt (greedy unless `sampling` says otherwise)."""
        rows = self.generate(prompts, "text", sampling=sampling)
        return [self.tokenizer.decode(row, skip_special_tokens=True).strip() for row in rows]


def config_from_t5(t5_config, **overrides) -> MotionLMConfig:
    """The MotionLMConfig describing an existing T5 config (pretrained or converted weights)."""
    projection = "gated-gelu" if getattr(t5_config, "is_gated_act", False) else "relu"
    values = {
        "d_model": t5_config.d_model,
        "d_ff": t5_config.d_ff,
        "num_layers": t5_config.num_layers,
        "num_decoder_layers": t5_config.num_decoder_layers,
        "num_heads": t5_config.num_heads,
        "d_kv": t5_config.d_kv,
        "feed_forward_proj": projection,
        "dropout_rate": t5_config.dropout_rate,
        "relative_attention_num_buckets": t5_config.relative_attention_num_buckets,
        "relative_attention_max_distance": t5_config.relative_attention_max_distance,
    }
    return MotionLMConfig(**{**values, **overrides})


class ConditionedT5(torch.nn.Module):
    """The T5 and its text prefix as one module for training (optimiser, DDP, checkpoints).

    forward takes the T5's arguments plus `sentence_vectors` `(B, 384)` and `sentence_present` `(B,)`
    (trainer.stages.lm_data.collate makes them).
    """

    def __init__(self, t5, prefix: TextPrefix) -> None:
        super().__init__()
        self.t5, self.prefix = t5, prefix

    def forward(self, input_ids, attention_mask, sentence_vectors, sentence_present, labels=None):
        embeds, mask = encoder_inputs(
            self.t5.get_input_embeddings(), self.prefix, input_ids, attention_mask, sentence_vectors, sentence_present
        )
        return self.t5(inputs_embeds=embeds, attention_mask=mask, labels=labels)
