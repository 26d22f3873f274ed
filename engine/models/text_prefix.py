"""The pretrained sentence encoder's way into the motion-language model: a learned prefix.

The T5's own text path (embeddings over a ~2,000-word tokenizer trained on our captions) only knows
the words of its training captions; a wording it never saw lands on whatever motion its known words
are nearest to. The frozen all-MiniLM-L6-v2 sentence encoder (engine.models.text_encoder.FrozenMiniLM,
the same instance the prompt gate uses) places paraphrases close together, so its sentence vector of
the caption, projected to `tokens` vectors of the T5's width, is put in front of the prompt's token
embeddings at the encoder input (a prefix; Li & Liang 2021 prefix-tuning, here at the input only).
Prompts without a caption (motion-to-text, prediction, span corruption) get no prefix: its positions
are masked out of attention, so the T5 sees exactly its own tokens.

Shapes: sentence vectors `(B, 384)` float32, unit length -> prefix `(B, tokens, d_model)`.
Saved beside the Hugging Face files as `text_prefix.safetensors`: the T5 directory stays one that
`T5ForConditionalGeneration.from_pretrained` opens.
"""

from __future__ import annotations

from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from engine.models.text_encoder import MINILM_DIM

PREFIX_FILE = "text_prefix.safetensors"


class TextPrefix(nn.Module):
    """Sentence vector -> `tokens` encoder-input vectors. One linear map (with bias) per model."""

    def __init__(self, tokens: int, d_model: int, sentence_dim: int = MINILM_DIM) -> None:
        super().__init__()
        self.tokens, self.d_model = tokens, d_model
        self.project = nn.Linear(sentence_dim, tokens * d_model)
        # MiniLM vectors have unit length (entries ~0.05); T5's token embeddings have entries ~1
        # (std 1 initialisation): a unit-std weight gives the prefix the embeddings' scale from the start.
        nn.init.normal_(self.project.weight, std=1.0)
        nn.init.zeros_(self.project.bias)

    def forward(self, vectors: torch.Tensor) -> torch.Tensor:
        """`(B, sentence_dim)` -> `(B, tokens, d_model)`."""
        return self.project(vectors).view(vectors.shape[0], self.tokens, self.d_model)

    def save(self, directory: str | Path) -> None:
        save_file({k: v.contiguous() for k, v in self.state_dict().items()}, str(Path(directory) / PREFIX_FILE))

    def load_(self, directory: str | Path) -> None:
        self.load_state_dict(load_file(str(Path(directory) / PREFIX_FILE)))


def encoder_inputs(
    embed: nn.Embedding,
    prefix: TextPrefix,
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor,
    vectors: torch.Tensor,
    present: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Prompt tokens `(B, L)` + sentence vectors `(B, 384)` -> inputs_embeds `(B, P + L, d_model)` and
    attention_mask `(B, P + L)`; rows whose `present` `(B,)` is False have their prefix masked out."""
    tokens = embed(input_ids)
    prefix_embeds = prefix(vectors.to(tokens.dtype))
    prefix_mask = present.to(attention_mask.dtype)[:, None].expand(-1, prefix.tokens)
    return torch.cat([prefix_embeds, tokens], dim=1), torch.cat([prefix_mask, attention_mask], dim=1)
