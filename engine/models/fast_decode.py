"""Incremental decoding of the motion-language model's T5, built for its size (~10 M parameters).

Why: one decoder step of the shipped model is ~5 M multiply-adds (4 layers, d_model 256, d_ff 1024,
1,550 output rows): a few hundred microseconds on one core. Hugging Face `generate` spends several
milliseconds per step on the machinery around it (cache objects, mask builders, output dataclasses,
stopping criteria, per-step logits processors in Python loops), so 52 steps cost ~300 ms. This module
runs the same arithmetic with plain torch ops on the HF module's own weights:

- the encoder runs once; the cross-attention K/V of every decoder layer come from one matmul, once;
- the decoder self-attention K/V live in a static cache `(layers, 2, B, H, T, d_kv)`; the relative
  position bias of every step (causal part included, -inf on the future) is one precomputed table;
- q/k/v and the gated feed-forward's two input projections are fused into one matmul each, residual
  adds are folded into `addmm`, T5's output scaling `d_model ** -0.5` is folded into the final norm;
- the constraint masks of a request (engine.models.motion_constraints `StepMasks`) are built once, and
  each step adds one precomputed `(B, V)` row;
- several prompts decode together (the engine's dynamic batching keeps its gain).

Token selection is Hugging Face's, step for step (transformers `GenerationMixin._sample`): the
constraint first, then `TemperatureLogitsWarper`, `TopKLogitsWarper`, `TopPLogitsWarper` (the same
classes, same order, same conditions as `_get_logits_processor`), then `argmax` (greedy) or
`softmax` + `torch.multinomial(probs, 1)` over the whole `(B, V)` row from torch's global generator:
one draw per step for the whole batch, as `generate` does, so both paths consume the generator in
the same order and a seed gives the same tokens (tests/test_fast_decode.py). Finished rows keep
decoding pad tokens like `generate`; the loop stops when every row has emitted `</s>`.

Architecture reference: Raffel et al. 2020 (T5), as implemented in transformers
`models/t5/modeling_t5.py` (RMS layer norm without bias, unscaled dot-product attention with a
bucketed relative position bias from the first layer, gated-GELU or ReLU feed-forward).
"""

from __future__ import annotations

import logging
import math
import warnings
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from transformers import TemperatureLogitsWarper, TopKLogitsWarper, TopPLogitsWarper
from transformers.activations import ACT2FN
from transformers.models.t5.modeling_t5 import T5Attention

from engine.models.motion_constraints import StepMasks

logger = logging.getLogger(__name__)

_TANH_GELU = ("gelu_new", "gelu_pytorch_tanh", "gelu_fast")  # the tanh approximation of GELU


def _activation(name: str):
    """The feed-forward activation as one fused op where one exists (HF's gelu_new is 8 ops)."""
    if name in _TANH_GELU:
        return lambda x: F.gelu(x, approximate="tanh")
    if name == "relu":
        return F.relu
    if name == "gelu":
        return F.gelu
    return ACT2FN[name]


WEIGHTS = ("fp32", "fp16", "int8")


class _Linear:
    """`y = x W^T` for `(N, in)` rows with W `(out, in)`, stored as:

    - fp32: the module's own weight (torch's GEMM);
    - fp16: FBGEMM's packed half-precision weight, fp32 activations and accumulation
      (`quantized::linear_dynamic_fp16`): half the bytes per step; each row's result depends on
      that row alone;
    - int8: FBGEMM's per-channel int8 weight with per-call uint8 activations
      (`quantized::linear_dynamic`, what `torch.ao.quantization.quantize_dynamic` runs): a quarter
      of the bytes, but one activation scale per call, so a row's result depends on its batch.
    """

    __slots__ = ("kind", "packed", "weight")

    def __init__(self, weight: torch.Tensor, kind: str) -> None:
        self.kind, self.weight = kind, weight.detach()
        self.packed = None
        if kind == "fp16":
            self.packed = torch.ops.quantized.linear_prepack_fp16(self.weight, None)
        elif kind == "int8":
            scale = (self.weight.abs().amax(1) / 127.0).clamp_min(1e-12).double()
            zero = torch.zeros(self.weight.shape[0], dtype=torch.long)
            with warnings.catch_warnings():  # quantized tensor constructors warn of a future removal
                warnings.simplefilter("ignore", UserWarning)
                weight_q = torch.quantize_per_channel(self.weight, scale, zero, 0, torch.qint8)
            self.packed = torch.ops.quantized.linear_prepack(weight_q, None)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        if self.kind == "fp16":
            return torch.ops.quantized.linear_dynamic_fp16(x, self.packed)
        if self.kind == "int8":
            return torch.ops.quantized.linear_dynamic(x, self.packed, True)
        return F.linear(x, self.weight)

    def add_to(self, x: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        """`x + h W^T` (one addmm in fp32)."""
        if self.kind == "fp32":
            return torch.addmm(x, h, self.weight.t())
        return x + self(h)


def weights_available(kind: str, device: torch.device | str = "cpu") -> bool:
    """Whether `kind` weights run here: fp16 / int8 need FBGEMM (x86 CPUs) and a CPU model."""
    if kind == "fp32":
        return True
    return torch.device(device).type == "cpu" and "fbgemm" in torch.backends.quantized.supported_engines


@dataclass
class _Layer:
    """One transformer block's weights, fused where that saves ops. Shapes for d_model D, H heads of
    d_kv, d_ff F: norms `(D,)`; qkv `(3 H d_kv, D)`; o `(D, H d_kv)`; q_cross `(H d_kv, D)`;
    wi `(2F, D)` gated (wi_0 stacked on wi_1) or `(F, D)`; wo `(D, F)`."""

    attn_norm: torch.Tensor
    qkv: _Linear
    o: _Linear
    cross_norm: torch.Tensor | None
    q_cross: _Linear | None
    o_cross: _Linear | None
    ff_norm: torch.Tensor
    wi: _Linear
    wo: _Linear


def _block(block, decoder: bool, kind: str) -> _Layer:
    attention = block.layer[0].SelfAttention
    ff = block.layer[-1].DenseReluDense
    gated = hasattr(ff, "wi_0")
    wi = torch.cat([ff.wi_0.weight, ff.wi_1.weight]) if gated else ff.wi.weight
    cross = block.layer[1].EncDecAttention if decoder else None
    return _Layer(
        attn_norm=block.layer[0].layer_norm.weight.detach(),
        qkv=_Linear(torch.cat([attention.q.weight, attention.k.weight, attention.v.weight]), kind),
        o=_Linear(attention.o.weight, kind),
        cross_norm=block.layer[1].layer_norm.weight.detach() if decoder else None,
        q_cross=_Linear(cross.q.weight, kind) if decoder else None,
        o_cross=_Linear(cross.o.weight, kind) if decoder else None,
        ff_norm=block.layer[-1].layer_norm.weight.detach(),
        wi=_Linear(wi, kind),
        wo=_Linear(ff.wo.weight, kind),
    )


class FastT5:
    """A T5ForConditionalGeneration's weights laid out for incremental decoding (see module doc).

    Built from the live HF module; `stale()` says when the module's weights changed since (training,
    load_state_dict, `.to(device)`), and MotionLM then builds a new one.
    """

    def __init__(self, model, weights: str = "fp32") -> None:
        if weights not in WEIGHTS:
            raise ValueError(f"weights must be one of {WEIGHTS}, got {weights!r}")
        config = model.config
        self.weights = weights
        self.fingerprint = _fingerprint(model)
        self.heads, self.d_kv = config.num_heads, config.d_kv
        self.inner = self.heads * self.d_kv
        self.d_ff = config.d_ff
        self.gated = bool(getattr(config, "is_gated_act", False))
        self.eps = config.layer_norm_epsilon
        self.act = _activation(config.dense_act_fn)
        self.buckets = config.relative_attention_num_buckets
        self.max_distance = config.relative_attention_max_distance
        with torch.inference_mode():
            encoder, decoder = model.get_encoder(), model.get_decoder()
            self.enc_embed = encoder.embed_tokens.weight.detach()
            self.dec_embed = decoder.embed_tokens.weight.detach()
            # the encoder runs once per request: it keeps fp32 weights whatever `weights` says
            self.enc_layers = [_block(b, decoder=False, kind="fp32") for b in encoder.block]
            self.dec_layers = [_block(b, decoder=True, kind=weights) for b in decoder.block]
            self.enc_bias_table = encoder.block[0].layer[0].SelfAttention.relative_attention_bias.weight.detach()
            self.dec_bias_table = decoder.block[0].layer[0].SelfAttention.relative_attention_bias.weight.detach()
            # all decoder layers' cross-attention K and V from one matmul: (L * 2 * H d_kv, D)
            self.cross_kv = torch.cat(
                [
                    torch.cat([b.layer[1].EncDecAttention.k.weight, b.layer[1].EncDecAttention.v.weight])
                    for b in decoder.block
                ]
            )
            self.enc_final = encoder.final_layer_norm.weight.detach()
            scale = (
                config.d_model**-0.5 if getattr(config, "scale_decoder_outputs", config.tie_word_embeddings) else 1.0
            )
            self.dec_final = decoder.final_layer_norm.weight.detach() * scale  # T5's output scaling, folded
            head = model.get_output_embeddings().weight
            self.head = _Linear(head, weights)
        self.vocab_size = head.shape[0]
        self._self_bias: dict[int, torch.Tensor] = {}

    def stale(self, model) -> bool:
        return _fingerprint(model) != self.fingerprint

    # --- pieces -----------------------------------------------------------------------------------
    def _norm(self, x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        return F.rms_norm(x, (x.shape[-1],), weight, self.eps)

    def _ff(self, x: torch.Tensor, layer: _Layer) -> torch.Tensor:
        """x + FF(norm(x)) for `(N, D)` rows."""
        h = layer.wi(self._norm(x, layer.ff_norm))
        if self.gated:
            h = self.act(h[:, : self.d_ff]).mul_(h[:, self.d_ff :])
        else:
            h = self.act(h)
        return layer.wo.add_to(x, h)

    def _bias(self, table: torch.Tensor, query: torch.Tensor, key: torch.Tensor, bidirectional: bool) -> torch.Tensor:
        """Relative position bias `(H, Q, K)` of query positions `query` and key positions `key` (HF's buckets)."""
        bucket = T5Attention._relative_position_bucket(
            key[None, :] - query[:, None],
            bidirectional=bidirectional,
            num_buckets=self.buckets,
            max_distance=self.max_distance,
        )
        return F.embedding(bucket, table).permute(2, 0, 1)

    def self_bias(self, steps: int, device: torch.device) -> torch.Tensor:
        """Decoder self-attention bias of every step `(steps, 1, H, 1, steps)`: row t attends to keys
        0..t with T5's causal relative bias, -inf on the keys not yet written (the static cache)."""
        cached = self._self_bias.get(steps)
        if cached is None or cached.device != device:
            positions = torch.arange(steps, device=device)
            bias = self._bias(self.dec_bias_table, positions, positions, bidirectional=False)
            future = positions[None, :] > positions[:, None]
            bias = bias.masked_fill(future, float("-inf"))  # (H, steps, steps)
            cached = bias.permute(1, 0, 2)[:, None, :, None, :].contiguous()
            self._self_bias[steps] = cached
        return cached

    # --- encoder ----------------------------------------------------------------------------------
    def encode(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor, inputs_embeds: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Prompts `(B, L)` -> cross-attention K/V of every decoder layer `(layers, 2, B, H, L, d_kv)`
        and the additive padding mask `(B, 1, 1, L)` (0 on tokens, -inf on padding).

        inputs_embeds `(B, L', d_model)`: the encoder input instead of the embedded ids (a text
        prefix in front of them, engine.models.text_prefix); attention_mask is then `(B, L')`."""
        batch, length = attention_mask.shape
        positions = torch.arange(length, device=input_ids.device)
        padding = torch.zeros(attention_mask.shape, dtype=self.enc_embed.dtype, device=input_ids.device)
        padding = padding.masked_fill(attention_mask == 0, float("-inf"))[:, None, None, :]
        mask = self._bias(self.enc_bias_table, positions, positions, bidirectional=True)[None] + padding
        embedded = F.embedding(input_ids, self.enc_embed) if inputs_embeds is None else inputs_embeds
        x = embedded.to(self.enc_embed.dtype).reshape(batch * length, -1)
        for layer in self.enc_layers:
            qkv = layer.qkv(self._norm(x, layer.attn_norm))
            q, k, v = qkv.view(batch, length, 3, self.heads, self.d_kv).permute(2, 0, 3, 1, 4)
            attended = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, scale=1.0)
            x = layer.o.add_to(x, attended.transpose(1, 2).reshape(batch * length, self.inner))
            x = self._ff(x, layer)
        hidden = self._norm(x, self.enc_final)
        layers = len(self.dec_layers)
        kv = F.linear(hidden, self.cross_kv).view(batch, length, layers, 2, self.heads, self.d_kv)
        return kv.permute(2, 3, 0, 4, 1, 5).contiguous(), padding

    # --- decoder ----------------------------------------------------------------------------------
    def step(
        self,
        tokens: torch.Tensor,
        t: int,
        layers: list[tuple],
        padding: torch.Tensor,
        bias: torch.Tensor,
    ) -> torch.Tensor:
        """One decoder step: tokens `(B,)` at position t -> logits `(B, V)`.

        layers: per decoder layer (weights, its cache `(2, B, H, T, d_kv)` with K and V views, cross
        K and V `(B, H, L, d_kv)`), views made once per request; writes K/V of position t into the
        cache. bias: this step's self-attention bias `(1, H, 1, T)`."""
        batch = tokens.shape[0]
        x = F.embedding(tokens, self.dec_embed)
        for layer, layer_cache, keys, values, cross_keys, cross_values in layers:
            qkv = layer.qkv(self._norm(x, layer.attn_norm)).view(batch, 3, self.heads, 1, self.d_kv)
            layer_cache[:, :, :, t : t + 1] = qkv[:, 1:].transpose(0, 1)
            attended = F.scaled_dot_product_attention(qkv[:, 0], keys, values, attn_mask=bias, scale=1.0)
            x = layer.o.add_to(x, attended.view(batch, self.inner))
            q = layer.q_cross(self._norm(x, layer.cross_norm)).view(batch, self.heads, 1, self.d_kv)
            attended = F.scaled_dot_product_attention(q, cross_keys, cross_values, attn_mask=padding, scale=1.0)
            x = layer.o_cross.add_to(x, attended.view(batch, self.inner))
            x = self._ff(x, layer)
        return self.head(self._norm(x, self.dec_final))

    def generate(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        masks: StepMasks,
        max_new_tokens: int,
        sampling,
        eos_id: int,
        pad_id: int,
        start_id: int,
        inputs_embeds: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Decode `(B, L)` prompts under `masks`; returns `(B, 1 + steps)` token ids starting with the
        decoder start token, finished rows padded with `pad_id` (the shape `generate` returns).

        sampling: engine.models.motion_lm.Sampling (greedy when `do_sample` is False). Draws come from
        torch's global generator; the caller seeds it. inputs_embeds: see `encode`.
        """
        with torch.inference_mode():
            batch, device = input_ids.shape[0], input_ids.device
            cross, padding = self.encode(input_ids, attention_mask, inputs_embeds)
            cache = torch.zeros(
                (len(self.dec_layers), 2, batch, self.heads, max_new_tokens, self.d_kv),
                dtype=cross.dtype,
                device=device,
            )
            biases = self.self_bias(max_new_tokens, device).unbind(0)
            layers = [
                (layer, cache[i], cache[i, 0], cache[i, 1], cross[i, 0], cross[i, 1])
                for i, layer in enumerate(self.dec_layers)
            ]
            sample, warpers = sampling.do_sample, _warpers(sampling)
            tokens = torch.full((batch,), start_id, dtype=torch.long, device=device)
            out = torch.empty((batch, max_new_tokens + 1), dtype=torch.long, device=device)
            out[:, 0] = tokens
            unfinished = torch.ones(batch, dtype=torch.bool, device=device)
            state = masks.start(batch)
            steps = 0
            for t in range(max_new_tokens):
                scores = masks.apply(t, self.step(tokens, t, layers, padding, biases[t]), state)
                if sample:
                    for warper in warpers:
                        scores = warper(out, scores)
                    tokens = torch.multinomial(F.softmax(scores, dim=-1), num_samples=1).squeeze(1)
                else:
                    tokens = scores.argmax(dim=-1)
                tokens = torch.where(unfinished, tokens, pad_id)
                masks.update(state, tokens)
                out[:, t + 1] = tokens
                steps = t + 1
                unfinished &= tokens != eos_id
                if not bool(unfinished.any()):
                    break
            return out[:, : steps + 1].clone()


def _warpers(sampling) -> list:
    """Hugging Face's sampling warpers for `sampling`, with generate's conditions and order
    (transformers `GenerationMixin._get_logits_processor`); [] for greedy."""
    if not sampling.do_sample:
        return []
    warpers: list = [TemperatureLogitsWarper(sampling.temperature)] if sampling.temperature != 1.0 else []
    if sampling.top_k:
        warpers.append(TopKLogitsWarper(top_k=sampling.top_k, min_tokens_to_keep=1))
    if sampling.top_p < 1.0:
        warpers.append(TopPLogitsWarper(top_p=sampling.top_p, min_tokens_to_keep=1))
    return warpers


def _fingerprint(model) -> tuple:
    """Identity, storage and in-place version of every parameter: changes when the weights do."""
    return tuple((id(p), p.data_ptr(), p._version, p.dtype) for p in model.parameters())


def supported(model) -> bool:
    """Whether `model` is a plain T5 encoder-decoder this module can decode (else use HF generate)."""
    config = getattr(model, "config", None)
    return (
        getattr(config, "model_type", None) == "t5"
        and getattr(config, "is_encoder_decoder", False)
        and hasattr(model, "get_encoder")
        and math.isfinite(getattr(config, "layer_norm_epsilon", math.nan))
    )
