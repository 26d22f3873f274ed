"""Correction writer (PoseFix `FeedbackGenerator`): (pose A, pose B) -> the instruction turning A into B.

An autoregressive transformer decoder (token embedding x sqrt(d), sinusoidal positions, causal
self-attention) cross-attends to "pose tokens" (PoseFix's `FeedbackGenerator`, Delmas et al. 2023;
github.com/naver/posescript, `src/text2pose/generative_modifier/`):
- PoseFix's comparison token: TIRG(main = enc(B), modifier = enc(A)) of L2-normalised VPoser
  embeddings, projected to d;
- plus one token per joint from (6D of A, 6D of B, their difference, FK position change) with a
  learned joint embedding. Deviation, on purpose: with a few thousand pairs and a small CPU model a
  single 32-d token lost which side and which limb moved; per-joint tokens keep it (the paper's
  Figure 6 also speaks of "a set of pose tokens").
Decoding: greedy (batched), beam search (length-normalised log-likelihood, PoseFix's score) and
sampling (temperature, top-k). Vocabulary: a word-level `tokenizers` model trained on the corpus.

Shapes: poses `(B, 22, 6)` float32 6D local rotations; token ids `(B, L)` int64, <pad> = 0.
Run the tests: `pytest -q tests/test_correction_writer.py`.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from engine.errors import InputError
from engine.models.pose_codec import NUM_JOINTS, TIRG, PoseEncoder, sixd_to_positions
from engine.models.text_encoder import WordTokenizer

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
TOKENIZER_FILE = "tokenizer.json"
JOINT_FEATURES = 6 + 6 + 6 + 3 + 3  # 6D of A, of B, B - A; FK position change and position of A


@dataclass
class CorrectionWriterConfig:
    vocab_size: int = 0  # set from the trained tokenizer
    d_model: int = 256  # PoseFix: 512; halved for CPU training
    layers: int = 3  # PoseFix: 4
    heads: int = 4  # PoseFix: 8
    ff: int = 512  # PoseFix: 1024
    dropout: float = 0.1
    latent_dim: int = 32  # PoseFix comparison_latentD
    hidden: int = 512  # VPoser num_neurons
    max_len: int = 96  # tokens, <start> and <end> included
    joint_tokens: bool = True  # see module docstring

    def __post_init__(self) -> None:
        if self.vocab_size < 5:
            raise ValueError(f"vocab_size={self.vocab_size}: train a tokenizer first (needs > 4 tokens)")
        if self.d_model % self.heads:
            raise ValueError(f"d_model={self.d_model} must be divisible by heads={self.heads}")


def sinusoidal_positions(length: int, dim: int) -> torch.Tensor:
    """`(length, dim)` float32 sinusoidal encodings (Vaswani et al. 2017)."""
    position = torch.arange(length, dtype=torch.float32)[:, None]
    freq = torch.exp(torch.arange(0, dim, 2, dtype=torch.float32) * (-math.log(10000.0) / dim))
    table = torch.zeros(length, dim)
    table[:, 0::2] = torch.sin(position * freq)
    table[:, 1::2] = torch.cos(position * freq)
    return table


class CorrectionWriter(nn.Module):
    def __init__(self, config: CorrectionWriterConfig, tokenizer: WordTokenizer) -> None:
        super().__init__()
        self.config = config
        self.tokenizer = tokenizer
        d = config.d_model
        self.pose_encoder = PoseEncoder(config.latent_dim, config.hidden, config.dropout)
        self.comparison = TIRG(config.latent_dim, config.latent_dim)
        self.pose_token = nn.Linear(config.latent_dim, d)
        if config.joint_tokens:
            self.joint_proj = nn.Linear(JOINT_FEATURES, d)
            self.joint_embedding = nn.Parameter(torch.randn(NUM_JOINTS, d) * 0.02)
        self.token_embedding = nn.Embedding(config.vocab_size, d, padding_idx=0)
        self.register_buffer("positions", sinusoidal_positions(config.max_len, d), persistent=False)
        layer = nn.TransformerDecoderLayer(
            d, config.heads, config.ff, config.dropout, activation="gelu", batch_first=True, norm_first=True
        )
        self.decoder = nn.TransformerDecoder(layer, config.layers)
        self.norm = nn.LayerNorm(d)
        self.output = nn.Linear(d, config.vocab_size)

    def memory(self, sixd_a: torch.Tensor, sixd_b: torch.Tensor) -> torch.Tensor:
        """Pose tokens `(B, 1 + 22, d)` (or `(B, 1, d)` without joint tokens)."""
        emb_a = nn.functional.normalize(self.pose_encoder(sixd_a), dim=-1)
        emb_b = nn.functional.normalize(self.pose_encoder(sixd_b), dim=-1)
        tokens = [self.pose_token(self.comparison(emb_b, emb_a))[:, None]]
        if self.config.joint_tokens:
            pos_a, pos_b = sixd_to_positions(sixd_a), sixd_to_positions(sixd_b)
            # Positions in decimetres: changes of a few cm must not vanish next to 6D values of order 1.
            feats = torch.cat([sixd_a, sixd_b, sixd_b - sixd_a, 10 * (pos_b - pos_a), 10 * pos_a], dim=-1)
            tokens.append(self.joint_proj(feats) + self.joint_embedding)
        return torch.cat(tokens, dim=1)

    def logits(self, memory: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
        """Next-token logits `(B, L, V)` for token ids `(B, L)` given pose tokens."""
        length = ids.shape[1]
        x = self.token_embedding(ids) * math.sqrt(self.config.d_model) + self.positions[:length]
        causal = torch.ones(length, length, dtype=torch.bool, device=ids.device).triu(1)  # True = masked
        x = self.decoder(
            x, memory, tgt_mask=causal, tgt_key_padding_mask=ids == self.tokenizer.pad_id, tgt_is_causal=True
        )
        return self.output(self.norm(x))

    def encode_texts(self, texts: list[str]) -> torch.Tensor:
        """`(B, L)` int64: <start> words <end>, padded with 0, cut at max_len."""
        tok = self.tokenizer
        seqs = [[tok.start_id] + tok.encode(t)[: self.config.max_len - 2] + [tok.end_id] for t in texts]
        ids = torch.zeros(len(seqs), max(len(s) for s in seqs), dtype=torch.long)
        for row, seq in enumerate(seqs):
            ids[row, : len(seq)] = torch.tensor(seq)
        return ids

    def forward(self, sixd_a: torch.Tensor, sixd_b: torch.Tensor, texts: list[str]) -> torch.Tensor:
        """Mean next-token cross-entropy (nats per token, padding ignored)."""
        ids = self.encode_texts(texts).to(sixd_a.device)
        logits = self.logits(self.memory(sixd_a, sixd_b), ids[:, :-1])
        return nn.functional.cross_entropy(
            logits.reshape(-1, logits.shape[-1]), ids[:, 1:].reshape(-1), ignore_index=self.tokenizer.pad_id
        )

    # --- decoding -------------------------------------------------------------------------------
    def _next_logprobs(self, memory: torch.Tensor, ids: torch.Tensor, min_len: int) -> torch.Tensor:
        logits = self.logits(memory, ids)[:, -1].float()
        logits[:, self.tokenizer.pad_id] = -math.inf
        logits[:, self.tokenizer.start_id] = -math.inf
        if ids.shape[1] <= min_len:  # PoseFix masks <end> until the text has a minimum length
            logits[:, self.tokenizer.end_id] = -math.inf
        return torch.log_softmax(logits, dim=-1)

    @torch.no_grad()
    def generate(
        self,
        sixd_a: torch.Tensor,
        sixd_b: torch.Tensor,
        method: str = "greedy",
        beam_size: int = 4,
        temperature: float = 1.0,
        top_k: int = 0,
        min_len: int = 3,
        generator: torch.Generator | None = None,
    ) -> list[str]:
        """Instructions for B pairs: `method` is 'greedy', 'beam' or 'sample'."""
        if method not in ("greedy", "beam", "sample"):
            raise InputError(f"decoding method {method!r} is not one of greedy, beam, sample.")
        self.eval()
        memory = self.memory(sixd_a, sixd_b)
        if method == "beam":
            return [self._beam(memory[i : i + 1], beam_size, min_len) for i in range(len(memory))]
        ids = torch.full((len(memory), 1), self.tokenizer.start_id, dtype=torch.long, device=memory.device)
        done = torch.zeros(len(memory), dtype=torch.bool, device=memory.device)
        for _ in range(self.config.max_len - 1):
            logprobs = self._next_logprobs(memory, ids, min_len)
            if method == "greedy":
                token = logprobs.argmax(-1)
            else:
                logits = logprobs / max(temperature, 1e-6)
                if top_k > 0:
                    kth = logits.topk(min(top_k, logits.shape[-1]), dim=-1).values[:, -1:]
                    logits = logits.masked_fill(logits < kth, -math.inf)
                token = torch.multinomial(torch.softmax(logits, -1), 1, generator=generator)[:, 0]
            token = torch.where(done, torch.full_like(token, self.tokenizer.pad_id), token)
            ids = torch.cat([ids, token[:, None]], dim=1)
            done |= token == self.tokenizer.end_id
            if done.all():
                break
        return [self.tokenizer.decode(row.tolist()) for row in ids]

    def _beam(self, memory: torch.Tensor, beam_size: int, min_len: int) -> str:
        """Beam search for one pair; finished beams are ranked by mean log-probability per token."""
        start = torch.tensor([[self.tokenizer.start_id]], device=memory.device)
        beams, finished = [(start, 0.0)], []
        for _ in range(self.config.max_len - 1):
            ids = torch.cat([b[0] for b in beams])
            logprobs = self._next_logprobs(memory.expand(len(beams), -1, -1), ids, min_len)
            scores = torch.tensor([b[1] for b in beams], device=memory.device)[:, None] + logprobs
            top = scores.flatten().topk(min(beam_size, scores.numel()))
            beams = []
            for score, flat in zip(top.values.tolist(), top.indices.tolist()):
                row, token = divmod(flat, logprobs.shape[-1])
                seq = torch.cat([ids[row : row + 1], torch.tensor([[token]], device=memory.device)], dim=1)
                if token == self.tokenizer.end_id:
                    finished.append((seq, score / (seq.shape[1] - 1)))
                else:
                    beams.append((seq, score))
            # Hugging Face's "heuristic" early stop: the best finished mean beats the best live beam's
            # mean so far (a longer continuation could still score higher; accepted for speed).
            if not beams or (finished and max(s for _, s in finished) >= max(s for _, s in beams) / ids.shape[1]):
                break
        finished += [(seq, score / (seq.shape[1] - 1)) for seq, score in beams]
        best = max(finished, key=lambda item: item[1])[0]
        return self.tokenizer.decode(best[0].tolist())

    # --- persistence ----------------------------------------------------------------------------
    def save(self, directory: str | Path) -> Path:
        """Write `config.json`, `model.safetensors` and `tokenizer.json` into `directory`."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        (directory / CONFIG_FILE).write_text(
            json.dumps({"model": "correction_writer", **asdict(self.config)}, indent=2)
        )
        save_file({k: v.detach().contiguous().cpu() for k, v in self.state_dict().items()}, directory / WEIGHTS_FILE)
        self.tokenizer.save(directory / TOKENIZER_FILE)
        return directory

    @classmethod
    def load(cls, directory: str | Path, device: str | torch.device = "cpu") -> CorrectionWriter:
        directory = Path(directory)
        if not (directory / CONFIG_FILE).is_file():
            raise InputError(
                f"{directory} is not a correction writer directory (no {CONFIG_FILE}); "
                f"train one with `motion-train feedback`."
            )
        values = json.loads((directory / CONFIG_FILE).read_text())
        values.pop("model", None)
        model = cls(CorrectionWriterConfig(**values), WordTokenizer.load(directory / TOKENIZER_FILE))
        model.load_state_dict(load_file(directory / WEIGHTS_FILE), strict=True)
        return model.to(device).eval()
