"""Vector quantisation for the motion tokenizer: nearest-code lookup, EMA codebook, dead-code reset.

Helpers first, then the quantiser (after lucidrains' vector-quantize-pytorch, first version). The
codebook is named `codebook` as in T2M-GPT/MotionGPT (`quantizer.codebook`, shape (K, D)) so that
their published weights load into it. Under EMA it is a buffer and the EMA statistics are
non-persistent buffers: a released checkpoint holds only `codebook`; our trainer saves the
statistics itself (see `ema_state`).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

QUANTIZERS = ("ema_reset", "ema", "orig")


def nearest_code(flat: torch.Tensor, codebook: torch.Tensor) -> torch.Tensor:
    """Index of the closest code by L2 distance: `(N, D)`, `(K, D)` -> `(N,)` int64."""
    distances = flat.pow(2).sum(-1, keepdim=True) - 2.0 * flat @ codebook.t() + codebook.pow(2).sum(-1)[None]
    return distances.argmin(dim=-1)


def ema_inplace_(old: torch.Tensor, new: torch.Tensor, decay: float) -> None:
    old.mul_(decay).add_(new, alpha=1.0 - decay)


def all_reduce_sum_(tensor: torch.Tensor) -> torch.Tensor:
    """Sum over data-parallel processes so every replica keeps the same codebook (no-op alone)."""
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        torch.distributed.all_reduce(tensor)
    return tensor


def perplexity(indices: torch.Tensor, num_codes: int) -> torch.Tensor:
    """exp(entropy) of code usage: K when all codes are used evenly, 1 when one code takes all."""
    counts = torch.bincount(indices.flatten(), minlength=num_codes).float()
    probs = counts / counts.sum().clamp(min=1.0)
    return torch.exp(-(probs * torch.log(probs + 1e-10)).sum())


@dataclass
class QuantizerOutput:
    quantized: torch.Tensor  # (B, D, T') straight-through quantised latents
    indices: torch.Tensor  # (B, T') int64 code ids
    loss: torch.Tensor  # scalar: commitment (EMA) or codebook + commitment (orig)
    perplexity: torch.Tensor  # scalar, over the valid positions of this batch


class Quantizer(nn.Module):
    """Nearest-neighbour VQ with a straight-through estimator.

    kind "ema_reset": codebook updated by EMA (decay `ema_decay`) and codes whose EMA count falls
    below `dead_code_threshold` are replaced by random encoder outputs of the current batch.
    kind "ema": the same without resets. kind "orig": a learned codebook trained by the loss
    ||sg[z] - z_q||^2 (weight `codebook_weight`) + ||z - sg[z_q]||^2 (weight `commitment_weight`).
    """

    def __init__(
        self,
        kind: str,
        num_codes: int,
        code_dim: int,
        ema_decay: float = 0.99,
        dead_code_threshold: float = 1.0,
        codebook_weight: float = 1.0,
        commitment_weight: float = 0.25,
    ) -> None:
        super().__init__()
        if kind not in QUANTIZERS:
            raise ValueError(f"quantizer kind {kind!r} is unknown; choose one of {QUANTIZERS}")
        self.kind, self.num_codes, self.code_dim = kind, num_codes, code_dim
        self.ema_decay, self.dead_code_threshold = ema_decay, dead_code_threshold
        self.codebook_weight, self.commitment_weight = codebook_weight, commitment_weight
        if kind == "orig":
            self.codebook = nn.Parameter(torch.randn(num_codes, code_dim) / code_dim**0.5)
        else:
            self.register_buffer("codebook", torch.zeros(num_codes, code_dim))
            self.register_buffer("code_sum", torch.zeros(num_codes, code_dim), persistent=False)
            self.register_buffer("code_count", torch.zeros(num_codes), persistent=False)
            self.register_buffer("initialised", torch.tensor(False), persistent=False)

    # --- EMA state ---------------------------------------------------------------------------
    def ema_state(self) -> dict[str, torch.Tensor]:
        """EMA statistics to save in a training checkpoint (empty for a learned codebook)."""
        if self.kind == "orig":
            return {}
        return {"code_sum": self.code_sum, "code_count": self.code_count, "initialised": self.initialised}

    def load_ema_state_(self, state: dict[str, torch.Tensor]) -> None:
        for name, value in state.items():
            getattr(self, name).copy_(value)

    @torch.no_grad()
    def init_codebook_(self, flat: torch.Tensor) -> None:
        """Start from the first batch's encoder outputs, tiled and jittered (T2M-GPT)."""
        repeats = (self.num_codes + flat.shape[0] - 1) // flat.shape[0]
        tiled = flat.repeat(repeats, 1)
        tiled = tiled + torch.randn_like(tiled) * (0.01 / self.code_dim**0.5)
        codes = tiled[torch.randperm(tiled.shape[0], device=flat.device)[: self.num_codes]]
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            torch.distributed.broadcast(codes, src=0)
        self.codebook.copy_(codes)
        self.code_sum.copy_(codes)
        self.code_count.fill_(1.0)
        self.initialised.fill_(True)

    @torch.no_grad()
    def update_codebook_(self, flat: torch.Tensor, indices: torch.Tensor) -> None:
        """EMA update of sums and counts, then optional dead-code reset. `flat`: (N, D)."""
        one_hot = F.one_hot(indices, self.num_codes).type(flat.dtype)  # (N, K)
        batch_sum = all_reduce_sum_(one_hot.t() @ flat)
        batch_count = all_reduce_sum_(one_hot.sum(0))
        ema_inplace_(self.code_sum, batch_sum, self.ema_decay)
        ema_inplace_(self.code_count, batch_count, self.ema_decay)
        updated = self.code_sum / self.code_count.clamp(min=1e-5)[:, None]
        if self.kind == "ema_reset":
            self.expire_codes_(flat, updated)
        self.codebook.copy_(updated)

    @torch.no_grad()
    def expire_codes_(self, flat: torch.Tensor, updated: torch.Tensor) -> None:
        """Replace codes used less than the threshold by random current encoder outputs."""
        dead = self.code_count < self.dead_code_threshold
        if not dead.any():
            return
        picks = flat[torch.randint(0, flat.shape[0], (self.num_codes,), device=flat.device)]
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            torch.distributed.broadcast(picks, src=0)
        updated[dead] = picks[dead]
        self.code_sum[dead] = picks[dead]
        self.code_count[dead] = 1.0

    # --- forward -----------------------------------------------------------------------------
    def forward(self, latents: torch.Tensor, mask: torch.Tensor | None = None) -> QuantizerOutput:
        """`latents` (B, D, T'), `mask` (B, T') bool of valid positions -> QuantizerOutput."""
        batch, dim, steps = latents.shape
        flat = latents.permute(0, 2, 1).reshape(-1, dim)
        valid = (
            mask.reshape(-1) if mask is not None else torch.ones(flat.shape[0], dtype=torch.bool, device=flat.device)
        )
        if self.kind != "orig" and self.training and not bool(self.initialised):
            self.init_codebook_(flat[valid].detach())
        indices = nearest_code(flat.detach(), self.codebook)
        if self.kind != "orig" and self.training:
            self.update_codebook_(flat[valid].detach(), indices[valid])
        codes = F.embedding(indices, self.codebook)
        weights = valid.float()[:, None] / valid.float().sum().clamp(min=1.0) / dim
        commitment = ((flat - codes.detach()).pow(2) * weights).sum()
        if self.kind == "orig":
            codebook_term = ((flat.detach() - codes).pow(2) * weights).sum()
            loss = self.codebook_weight * codebook_term + self.commitment_weight * commitment
        else:
            loss = commitment
        straight_through = flat + (codes - flat).detach()
        quantized = straight_through.reshape(batch, steps, dim).permute(0, 2, 1)
        return QuantizerOutput(
            quantized, indices.reshape(batch, steps), loss, perplexity(indices[valid], self.num_codes)
        )

    def lookup(self, indices: torch.Tensor) -> torch.Tensor:
        """Code vectors for ids: `(B, T')` -> `(B, D, T')`."""
        return F.embedding(indices, self.codebook).permute(0, 2, 1)
