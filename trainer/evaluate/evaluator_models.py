"""Evaluator encoders: text <-> motion (Guo et al. 2022 style) and text <-> pose pair (PoseFix PairText).

Used only to compute metrics; trained contrastively by trainer/stages/evaluator.py and frozen.
- Words: a vocabulary built from the training captions (no GloVe: nothing is downloaded), lower-
  cased word tokens, padded/truncated to `max_words` (Guo et al.: 20).
- TextEncoder: word embedding -> 1-layer bidirectional GRU over the packed sequence -> both final
  hidden states -> MLP -> L2-normalised `(B, embed_dim)`.
- MotionEncoder (Guo's MovementConvEncoder + MotionEncoderBiGRUCo): features without the 4 foot
  contacts `(B, T, 259)`, normalised by the data's Mean/Std -> two stride-2 Conv1d (T/4) ->
  BiGRU packed by `lengths // 4` -> MLP -> L2.
- PairEncoder (PoseFix PairText, section 3.3): a shared pose MLP on poses A and B (pelvis-centred
  joints, `(B, 66)` metres) -> concat -> MLP -> L2. Its pose features feed the pose FID.
Embeddings are unit vectors trained with a learned-scale InfoNCE (PoseFix's BBC loss), so
Euclidean distances lie in [0, 2]: FID, MM-Dist and diversity are on that scale, not on the scale of
Guo's released evaluator (MM-Dist ~3, diversity ~9.5); only numbers from the same evaluator compare.

Saved as a directory: `config.json` (EvaluatorConfig incl. the vocabulary and a version string) and
`model.safetensors` (weights plus the feature mean/std buffers the motion encoder normalises with).
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from torch import nn
from torch.nn import functional as F

from engine.errors import InputError

EVALUATOR_VERSION = "motion-copilot-evaluator-1"
KINDS = ("text_motion", "text_pair")
PAD, UNK = 0, 1
CONTACT_DIMS = 4  # Guo's evaluator drops the foot contacts (feats[..., :-4])
WORD = re.compile(r"[a-z0-9']+")


@dataclass
class EvaluatorConfig:
    kind: str = "text_motion"
    vocab: list[str] = field(default_factory=list)  # index 0 <pad>, 1 <unk>, then words
    max_words: int = 20
    word_dim: int = 128
    hidden: int = 256
    embed_dim: int = 256
    feature_dim: int = 263  # motion features (text_motion)
    num_joints: int = 22  # pose joints (text_pair)
    unit: int = 4  # temporal down-sampling of the motion encoder
    version: str = EVALUATOR_VERSION

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"kind={self.kind!r}; expected one of {KINDS}")
        if self.vocab and self.vocab[:2] != ["<pad>", "<unk>"]:
            raise ValueError("vocab must start with '<pad>', '<unk>'")


def build_vocab(texts: list[str], min_count: int = 1) -> list[str]:
    """Sorted words seen at least `min_count` times, after '<pad>' and '<unk>'."""
    counts: dict[str, int] = {}
    for text in texts:
        for word in WORD.findall(text.lower()):
            counts[word] = counts.get(word, 0) + 1
    return ["<pad>", "<unk>"] + sorted(w for w, c in counts.items() if c >= min_count)


def encode_texts(texts: list[str], vocab: list[str], max_words: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Texts -> word ids `(B, L)` int64 (0-padded) and lengths `(B,)` int64 (at least 1)."""
    index = {w: i for i, w in enumerate(vocab)}
    rows = [[index.get(w, UNK) for w in WORD.findall(t.lower())][:max_words] or [UNK] for t in texts]
    ids = torch.zeros(len(rows), max(map(len, rows)), dtype=torch.long)
    for i, row in enumerate(rows):
        ids[i, : len(row)] = torch.tensor(row)
    return ids, torch.tensor([len(r) for r in rows])


def _head(inputs: int, hidden: int, outputs: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(inputs, hidden), nn.LayerNorm(hidden), nn.LeakyReLU(0.2), nn.Linear(hidden, outputs))


def _bigru_final(gru: nn.GRU, inputs: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Concatenated final hidden states `(B, 2H)` of a bidirectional GRU over packed sequences."""
    packed = nn.utils.rnn.pack_padded_sequence(
        inputs, lengths.cpu().clamp(min=1), batch_first=True, enforce_sorted=False
    )
    _, hidden = gru(packed)  # (2, B, H)
    return torch.cat([hidden[0], hidden[1]], dim=-1)


def _mask(lengths: torch.Tensor, frames: int) -> torch.Tensor:
    """`(B, frames)` float, 1 within each length."""
    return (torch.arange(frames, device=lengths.device)[None] < lengths[:, None]).float()


class TextEncoder(nn.Module):
    def __init__(self, c: EvaluatorConfig) -> None:
        super().__init__()
        self.embedding = nn.Embedding(len(c.vocab), c.word_dim, padding_idx=PAD)
        self.gru = nn.GRU(c.word_dim, c.hidden, batch_first=True, bidirectional=True)
        self.head = _head(2 * c.hidden, c.hidden, c.embed_dim)

    def forward(self, ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """ids `(B, L)` int64, lengths `(B,)` -> `(B, embed_dim)` unit vectors."""
        return F.normalize(self.head(_bigru_final(self.gru, self.embedding(ids), lengths)), dim=-1)


class MotionEncoder(nn.Module):
    def __init__(self, c: EvaluatorConfig) -> None:
        super().__init__()
        inputs = c.feature_dim - CONTACT_DIMS
        self.unit = c.unit
        self.convs = nn.ModuleList(
            [
                nn.Sequential(nn.Conv1d(inputs, c.hidden, 4, 2, 1), nn.Dropout(0.2), nn.LeakyReLU(0.2)),
                nn.Sequential(nn.Conv1d(c.hidden, c.hidden, 4, 2, 1), nn.Dropout(0.2), nn.LeakyReLU(0.2)),
            ]
        )
        self.gru = nn.GRU(c.hidden, c.hidden, batch_first=True, bidirectional=True)
        self.head = _head(2 * c.hidden, c.hidden, c.embed_dim)

    def forward(self, features: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """Normalised features `(B, T, 263)` (T a multiple of `unit`), frame counts `(B,)` -> `(B, embed_dim)`."""
        hidden, valid = features[..., :-CONTACT_DIMS].permute(0, 2, 1), lengths
        for conv in self.convs:
            # Zero what lies past each motion's end before every conv, so that padding (and what a
            # batch-mate's length adds) never leaks into the last frames' receptive field.
            hidden = conv(hidden * _mask(valid, hidden.shape[-1])[:, None])
            valid = valid // 2
        return F.normalize(self.head(_bigru_final(self.gru, hidden.permute(0, 2, 1), lengths // self.unit)), dim=-1)


class PoseEncoder(nn.Module):
    """Pelvis-centred joints `(B, J, 3)` metres -> `(B, hidden)` pose features."""

    def __init__(self, c: EvaluatorConfig) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(c.num_joints * 3, c.hidden),
            nn.LayerNorm(c.hidden),
            nn.LeakyReLU(0.2),
            nn.Dropout(0.1),
            nn.Linear(c.hidden, c.hidden),
            nn.LeakyReLU(0.2),
            nn.Linear(c.hidden, c.hidden),
        )

    def forward(self, poses: torch.Tensor) -> torch.Tensor:
        centred = poses - poses[:, :1]
        return self.net(centred.flatten(1))


class PairEncoder(nn.Module):
    def __init__(self, c: EvaluatorConfig) -> None:
        super().__init__()
        self.pose = PoseEncoder(c)
        self.head = _head(2 * c.hidden, c.hidden, c.embed_dim)

    def forward(self, pose_a: torch.Tensor, pose_b: torch.Tensor) -> torch.Tensor:
        """Poses A and B `(B, J, 3)` metres -> `(B, embed_dim)` unit vectors."""
        return F.normalize(self.head(torch.cat([self.pose(pose_a), self.pose(pose_b)], dim=-1)), dim=-1)


class Evaluator(nn.Module):
    """A text encoder and a motion (or pose-pair) encoder sharing one embedding space."""

    def __init__(self, config: EvaluatorConfig) -> None:
        super().__init__()
        self.config = config
        self.text = TextEncoder(config)
        self.other = MotionEncoder(config) if config.kind == "text_motion" else PairEncoder(config)
        self.log_scale = nn.Parameter(torch.tensor(float(np.log(10.0))))  # PoseFix BBC: learned scale, init 10
        self.register_buffer("mean", torch.zeros(config.feature_dim))
        self.register_buffer("std", torch.ones(config.feature_dim))

    def set_normalization_(self, mean: np.ndarray, std: np.ndarray) -> None:
        self.mean.copy_(torch.as_tensor(mean, dtype=torch.float32))
        self.std.copy_(torch.as_tensor(std, dtype=torch.float32))

    def encode_text(self, texts: list[str]) -> torch.Tensor:
        ids, lengths = encode_texts(texts, self.config.vocab, self.config.max_words)
        return self.text(ids.to(self.mean.device), lengths)

    def encode_motion(self, features: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """Raw (un-normalised) features `(B, T, 263)`; frames past `lengths` are ignored."""
        return self.other((features - self.mean) / self.std, lengths)

    def encode_pair(self, pose_a: torch.Tensor, pose_b: torch.Tensor) -> torch.Tensor:
        return self.other(pose_a, pose_b)

    def encode_pose(self, poses: torch.Tensor) -> torch.Tensor:
        """Pose features `(B, hidden)` of the pair model's shared pose encoder (for pose FID)."""
        return self.other.pose(poses)

    def save(self, directory: str | Path) -> Path:
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        (directory / "config.json").write_text(json.dumps(asdict(self.config), indent=1))
        save_file(
            {k: v.detach().contiguous().cpu() for k, v in self.state_dict().items()}, directory / "model.safetensors"
        )
        return directory

    @classmethod
    def load(cls, directory: str | Path, device: str | torch.device = "cpu") -> Evaluator:
        directory = Path(directory)
        if not (directory / "config.json").is_file():
            raise InputError(
                f"{directory} is not an evaluator directory (no config.json); train one with `motion-train evaluator`"
            )
        config = EvaluatorConfig(**json.loads((directory / "config.json").read_text()))
        if config.version != EVALUATOR_VERSION:
            raise InputError(
                f"{directory}: evaluator version {config.version!r} differs from this code's "
                f"{EVALUATOR_VERSION!r}; retrain it with `motion-train evaluator`"
            )
        model = cls(config)
        model.load_state_dict(load_file(directory / "model.safetensors"), strict=True)
        return model.to(device).eval()
