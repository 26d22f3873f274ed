"""Motion tokenizer: a 1D-convolutional VQ-VAE over normalised HumanML3D features.

Layer structure and parameter names follow T2M-GPT / MotionGPT (`encoder.model.*`,
`decoder.model.*`, `quantizer.codebook`; MotionGPT, Jiang et al. 2023, github.com/OpenMotionLab/MotionGPT,
`mGPT/archs/mgpt_vq.py` and the `vae.` keys of its released `motiongpt_s3_h3d.tar`), so
their released weights load through `convert_released_state_dict`. Temporal down-sampling is
`stride_t ** down_t` (4 by default): a 196-frame clip becomes 49 tokens.

Shapes: features `(B, T, C)` with C = 263 (HumanML3D) or 251 (KIT), normalised by the dataset's
mean/std; latents `(B, D, T/4)`; token ids `(B, T/4)` int64.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file
from torch import nn

from engine.errors import InputError
from engine.models.quantize import QUANTIZERS, Quantizer, nearest_code

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
NORMALIZATION_FILE = "normalization.safetensors"
RIC_SLICE = slice(4, 67)  # root-relative joint positions of HumanML3D (the "velocity" loss slice)
ROOT_VELOCITY_SLICE = slice(0, 3)  # root yaw velocity and planar linear velocity (HumanML3D dims 0-2)


@dataclass
class TokenizerConfig:
    nfeats: int = 263
    code_num: int = 512
    code_dim: int = 512
    down_t: int = 2
    stride_t: int = 2
    width: int = 512
    depth: int = 3
    dilation_growth_rate: int = 3
    quantizer: str = "ema_reset"
    ema_decay: float = 0.99
    dead_code_threshold: float = 1.0
    commit_beta: float = 0.02  # MotionGPT/T2M-GPT commitment weight
    lambda_velocity: float = 0.5  # weight of the smooth-L1 term on RIC_SLICE (MotionGPT's "velocity" loss)
    lambda_root_path: float = 0.0  # weight of the running-mean root-velocity error term (0: MotionGPT's loss)
    extra: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.quantizer not in QUANTIZERS:
            raise ValueError(f"TokenizerConfig.quantizer={self.quantizer!r}; allowed: {QUANTIZERS}")
        for name in ("nfeats", "code_num", "code_dim", "down_t", "stride_t", "width", "depth"):
            if getattr(self, name) < 1:
                raise ValueError(f"TokenizerConfig.{name}={getattr(self, name)} must be a positive integer")

    @property
    def downsample(self) -> int:
        return self.stride_t**self.down_t

    @classmethod
    def preset(cls, name: str, **overrides) -> TokenizerConfig:
        """`full` is MotionGPT's 512x512 tokenizer; `cpu` a narrow one that trains on a laptop."""
        presets = {
            "full": {},
            "cpu": {"width": 128, "code_dim": 128, "code_num": 512},
            "tiny": {"width": 32, "code_dim": 32, "code_num": 64, "depth": 2},
        }
        if name not in presets:
            raise ValueError(f"tokenizer preset {name!r} is unknown; choose one of {sorted(presets)}")
        return cls(**{**presets[name], **overrides})


class ResConv1DBlock(nn.Module):
    """act -> dilated conv k3 -> act -> conv k1 -> residual add (T2M-GPT, norm=None)."""

    def __init__(self, width: int, dilation: int) -> None:
        super().__init__()
        self.activation1, self.activation2 = nn.ReLU(), nn.ReLU()
        self.conv1 = nn.Conv1d(width, width, 3, 1, padding=dilation, dilation=dilation)
        self.conv2 = nn.Conv1d(width, width, 1, 1, 0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv2(self.activation2(self.conv1(self.activation1(x))))


class Resnet1D(nn.Module):
    def __init__(self, width: int, depth: int, growth: int, reverse_dilation: bool = True) -> None:
        super().__init__()
        blocks = [ResConv1DBlock(width, growth**d) for d in range(depth)]
        self.model = nn.Sequential(*(blocks[::-1] if reverse_dilation else blocks))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


class Encoder(nn.Module):
    def __init__(self, c: TokenizerConfig) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.Conv1d(c.nfeats, c.width, 3, 1, 1), nn.ReLU()]
        for _ in range(c.down_t):
            layers.append(
                nn.Sequential(
                    nn.Conv1d(c.width, c.width, c.stride_t * 2, c.stride_t, c.stride_t // 2),
                    Resnet1D(c.width, c.depth, c.dilation_growth_rate),
                )
            )
        layers.append(nn.Conv1d(c.width, c.code_dim, 3, 1, 1))
        self.model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


class Decoder(nn.Module):
    def __init__(self, c: TokenizerConfig) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.Conv1d(c.code_dim, c.width, 3, 1, 1), nn.ReLU()]
        for _ in range(c.down_t):
            layers.append(
                nn.Sequential(
                    Resnet1D(c.width, c.depth, c.dilation_growth_rate),
                    nn.Upsample(scale_factor=c.stride_t, mode="nearest"),
                    nn.Conv1d(c.width, c.width, 3, 1, 1),
                )
            )
        layers += [nn.Conv1d(c.width, c.width, 3, 1, 1), nn.ReLU(), nn.Conv1d(c.width, c.nfeats, 3, 1, 1)]
        self.model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


@dataclass
class TokenizerOutput:
    reconstruction: torch.Tensor  # (B, T, C) normalised features
    indices: torch.Tensor  # (B, T') int64
    loss: torch.Tensor  # total training loss
    losses: dict[str, torch.Tensor]
    perplexity: torch.Tensor


def frame_mask(lengths: torch.Tensor | None, batch: int, frames: int, device: torch.device) -> torch.Tensor:
    """`(B, T)` bool, True on real frames; everything is real when `lengths` is None."""
    if lengths is None:
        return torch.ones(batch, frames, dtype=torch.bool, device=device)
    return torch.arange(frames, device=device)[None] < lengths.to(device)[:, None]


def root_path_error(reconstruction: torch.Tensor, features: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """Summed smooth-L1 of the running mean of the root-velocity error, `(B, T, C)` normalised
    features and `(B, T, 1)` frame weights -> scalar (divide by the frame count).

    Why: the root trajectory is integrated from root velocities (HumanML3D dims 0-2), so a small
    error with a constant sign drifts the whole clip (370 mm global MPJPE against 35 mm root-aligned
    for the first default tokenizer) while per-frame terms hardly see it. The running mean up to
    each frame is that bias; zero-mean noise averages out of it.
    """
    error = (reconstruction[..., ROOT_VELOCITY_SLICE] - features[..., ROOT_VELOCITY_SLICE]) * weight
    frames = torch.arange(1, error.shape[1] + 1, device=error.device, dtype=error.dtype)[None, :, None]
    running = error.cumsum(dim=1) / frames
    return (F.smooth_l1_loss(running, torch.zeros_like(running), reduction="none") * weight).sum() / error.shape[-1]


class MotionTokenizer(nn.Module):
    def __init__(self, config: TokenizerConfig) -> None:
        super().__init__()
        self.config = config
        self.encoder = Encoder(config)
        self.decoder = Decoder(config)
        self.quantizer = Quantizer(
            config.quantizer, config.code_num, config.code_dim, config.ema_decay, config.dead_code_threshold
        )
        self.register_buffer("mean", torch.zeros(config.nfeats), persistent=False)
        self.register_buffer("std", torch.ones(config.nfeats), persistent=False)

    def _check_features(self, features: torch.Tensor) -> None:
        if features.ndim != 3 or features.shape[-1] != self.config.nfeats:
            raise InputError(
                f"the tokenizer takes features of shape (B, T, {self.config.nfeats}), got {tuple(features.shape)}"
            )
        if features.shape[1] == 0 or features.shape[1] % self.config.downsample:
            raise InputError(
                f"motion length {features.shape[1]} must be a positive multiple of {self.config.downsample} frames; "
                "crop or pad the motion first"
            )

    def forward(self, features: torch.Tensor, lengths: torch.Tensor | None = None) -> TokenizerOutput:
        """Reconstruct normalised `features` (B, T, C); `lengths` (B,) frames, multiples of 4."""
        self._check_features(features)
        mask = frame_mask(lengths, features.shape[0], features.shape[1], features.device)
        latents = self.encoder(features.permute(0, 2, 1))
        quantized = self.quantizer(latents, mask[:, :: self.config.downsample])
        reconstruction = self.decoder(quantized.quantized).permute(0, 2, 1)
        weight = mask[..., None].float()
        denominator = weight.sum().clamp(min=1.0)
        recon = (
            (F.smooth_l1_loss(reconstruction, features, reduction="none") * weight).sum()
            / denominator
            / features.shape[-1]
        )
        velocity = (
            F.smooth_l1_loss(reconstruction[..., RIC_SLICE], features[..., RIC_SLICE], reduction="none") * weight
        ).sum()
        velocity = velocity / denominator / (RIC_SLICE.stop - RIC_SLICE.start)
        c = self.config
        root_path = root_path_error(reconstruction, features, weight) / denominator
        loss = recon + c.lambda_velocity * velocity + c.lambda_root_path * root_path + c.commit_beta * quantized.loss
        losses = {"reconstruction": recon, "velocity": velocity, "root_path": root_path, "commitment": quantized.loss}
        return TokenizerOutput(reconstruction, quantized.indices, loss, losses, quantized.perplexity)

    @torch.no_grad()
    def encode(self, features: torch.Tensor, lengths: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Normalised features `(B, T, C)` -> (token ids `(B, T/4)` int64, valid mask `(B, T/4)` bool)."""
        self._check_features(features)
        mask = frame_mask(lengths, features.shape[0], features.shape[1], features.device)[:, :: self.config.downsample]
        latents = self.encoder(features.permute(0, 2, 1)).permute(0, 2, 1)

        ids = nearest_code(latents.reshape(-1, latents.shape[-1]), self.quantizer.codebook).reshape(mask.shape)
        return ids, mask

    @torch.no_grad()
    def decode(self, ids: torch.Tensor) -> torch.Tensor:
        """Token ids `(B, T')` -> normalised features `(B, 4 T', C)`."""
        if ids.ndim != 2 or ids.numel() == 0:
            raise InputError(f"token ids must be a non-empty (B, T') array, got shape {tuple(ids.shape)}")
        if int(ids.min()) < 0 or int(ids.max()) >= self.config.code_num:
            raise InputError(
                f"token ids must lie in [0, {self.config.code_num}); got {int(ids.min())}..{int(ids.max())}"
            )
        return self.decoder(self.quantizer.lookup(ids)).permute(0, 2, 1)

    # --- normalisation ------------------------------------------------------------------------
    def set_normalization_(self, mean: torch.Tensor, std: torch.Tensor) -> None:
        self.mean.copy_(torch.as_tensor(mean, dtype=self.mean.dtype))
        self.std.copy_(torch.as_tensor(std, dtype=self.std.dtype))

    def normalize(self, features: torch.Tensor) -> torch.Tensor:
        return (features - self.mean) / self.std

    def denormalize(self, features: torch.Tensor) -> torch.Tensor:
        return features * self.std + self.mean

    # --- persistence ----------------------------------------------------------------------------
    def save(self, directory: str | Path) -> Path:
        """Write `config.json`, `model.safetensors` and `normalization.safetensors` into `directory`."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        (directory / CONFIG_FILE).write_text(json.dumps(asdict(self.config), indent=2))
        save_file({k: v.detach().contiguous().cpu() for k, v in self.state_dict().items()}, directory / WEIGHTS_FILE)
        save_file(
            {"mean": self.mean.cpu().contiguous(), "std": self.std.cpu().contiguous()}, directory / NORMALIZATION_FILE
        )
        return directory

    @classmethod
    def load(cls, directory: str | Path, device: str | torch.device = "cpu") -> MotionTokenizer:
        directory = Path(directory)
        if not (directory / CONFIG_FILE).is_file():
            raise InputError(
                f"{directory} is not a tokenizer directory (no {CONFIG_FILE}); train one with `motion-train tokenizer`"
            )
        config = TokenizerConfig(**json.loads((directory / CONFIG_FILE).read_text()))
        model = cls(config)
        model.load_state_dict(load_file(directory / WEIGHTS_FILE), strict=True)
        stats = load_file(directory / NORMALIZATION_FILE)
        model.set_normalization_(stats["mean"], stats["std"])
        return model.to(device).eval()


RELEASED_PREFIXES = ("vae.", "vqvae.", "motion_vae.")


def convert_released_state_dict(state_dict: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Keys of a T2M-GPT (`vqvae.`) or MotionGPT (`vae.`) checkpoint -> this model's keys.

    Only the tokenizer's own tensors are kept (a MotionGPT checkpoint also holds `lm.*`).
    """
    converted = {}
    for key, value in state_dict.items():
        for prefix in RELEASED_PREFIXES:
            if key.startswith(prefix):
                converted[key[len(prefix) :]] = value
    if not converted:
        raise InputError(
            "no tokenizer weights found: expected keys starting with one of " + ", ".join(RELEASED_PREFIXES)
        )
    return converted
