"""Pose representation and the VPoser-style pose encoder/decoder shared by the PoseFix models.

A pose is the 22 SMPL joints' canonical local rotations on the default rest skeleton (heading
removed), as 6D rotations `(B, 22, 6)` float32 (Zhou et al. 2019; rows of the matrix, see
engine.motion.rotations). Joint positions come from forward kinematics on that rest skeleton with
the pelvis at the origin, `(B, 22, 3)` float32 metres, Y up, facing +Z.
Layers follow PoseFix's `src/text2pose/encoders/pose_encoder_decoder.py` (Delmas et al. 2023;
github.com/naver/posescript),
with J = 22 and 6D input instead of axis-angle.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from engine.errors import InputError
from engine.motion import rotations as R
from engine.motion.kinematics import forward_kinematics, inverse_kinematics
from engine.motion.skeleton import NUM_JOINTS, default_rest_offsets

SIXD = 6


def positions_to_quats(positions: np.ndarray, independent: bool = True) -> np.ndarray:
    """Canonical local rotations `(N, 22, 4)` float32 (w, x, y, z) of joint positions `(N, 22, 3)` metres.

    IK fills the twist of nearly straight limbs from neighbouring frames; with `independent` each
    pose is solved alone (about 10 ms each), otherwise the batch is solved as one sequence (fast,
    the twist of straight limbs may then come from another pose; positions are unaffected).
    """
    positions = np.asarray(positions, dtype=np.float64)
    if positions.ndim != 3 or positions.shape[1:] != (NUM_JOINTS, 3) or not np.isfinite(positions).all():
        raise InputError(f"poses must be finite (N, 22, 3) joint positions in metres, got shape {positions.shape}.")
    offsets = default_rest_offsets()
    if independent:
        quats = (
            np.stack([inverse_kinematics(p[None], offsets)[0][0] for p in positions])
            if len(positions)
            else np.zeros((0, NUM_JOINTS, 4))
        )
    else:
        quats = inverse_kinematics(positions, offsets)[0]
    return quats.astype(np.float32)


def positions_to_sixd(positions: np.ndarray, independent: bool = True) -> np.ndarray:
    """`(N, 22, 3)` metres -> `(N, 22, 6)` float32 6D local rotations (see positions_to_quats)."""
    return np.asarray(R.quat_to_sixd(positions_to_quats(positions, independent)), dtype=np.float32)


def sixd_to_positions(sixd: torch.Tensor) -> torch.Tensor:
    """Differentiable FK: `(B, 22, 6)` 6D local rotations -> `(B, 22, 3)` metres, pelvis at the origin."""
    quats = R.sixd_to_quat(sixd)
    offsets = torch.as_tensor(default_rest_offsets(), dtype=sixd.dtype, device=sixd.device)
    root = torch.zeros(sixd.shape[:-2] + (3,), dtype=sixd.dtype, device=sixd.device)
    return forward_kinematics(quats, root, offsets)


class PoseEncoder(nn.Module):
    """VPoser body: `(B, 22, 6)` -> `(B, hidden)` features, then a Linear head to `(B, out_dim)`."""

    def __init__(self, out_dim: int, hidden: int = 512, dropout: float = 0.1) -> None:
        super().__init__()
        flat = NUM_JOINTS * SIXD
        self.body = nn.Sequential(
            nn.Flatten(),
            nn.BatchNorm1d(flat),
            nn.Linear(flat, hidden),
            nn.LeakyReLU(0.2),
            nn.BatchNorm1d(hidden),
            nn.Dropout(dropout),
            nn.Linear(hidden, hidden),
            nn.Linear(hidden, hidden),
        )
        self.head = nn.Linear(hidden, out_dim)

    def forward(self, sixd: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(sixd))


class PoseDecoder(nn.Module):
    """VPoser decoder: `(B, latent)` -> `(B, 22, 6)` 6D rotations (Gram-Schmidt happens in sixd_to_*)."""

    def __init__(self, latent_dim: int, hidden: int = 512, dropout: float = 0.1) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(latent_dim, hidden),
            nn.LeakyReLU(0.2),
            nn.Dropout(dropout),
            nn.Linear(hidden, hidden),
            nn.LeakyReLU(0.2),
            nn.Linear(hidden, NUM_JOINTS * SIXD),
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z).view(-1, NUM_JOINTS, SIXD)


class NormalHead(nn.Module):
    """VPoser's NormalDistDecoder: features `(B, in)` -> Normal(mu, softplus(s)) over `(B, latent)`."""

    def __init__(self, in_dim: int, latent_dim: int) -> None:
        super().__init__()
        self.mu = nn.Linear(in_dim, latent_dim)
        self.scale = nn.Linear(in_dim, latent_dim)

    def forward(self, features: torch.Tensor) -> torch.distributions.Normal:
        return torch.distributions.Normal(self.mu(features), nn.functional.softplus(self.scale(features)) + 1e-6)


class TIRG(nn.Module):
    """TIRG fusion (Vo et al., CVPR 2019, arXiv 1812.07119) as in PoseFix `encoders/modules.py`.

    out = sigmoid(gate([main, mod])) * main * a0 + residual([main, mod]) * a1, a = [1, 1] learned.
    main `(B, main_dim)`, mod `(B, mod_dim)` -> `(B, main_dim)`.
    """

    def __init__(self, main_dim: int, mod_dim: int) -> None:
        super().__init__()
        both = main_dim + mod_dim
        self.gate = nn.Sequential(nn.BatchNorm1d(both), nn.ReLU(), nn.Linear(both, main_dim))
        self.residual = nn.Sequential(
            nn.BatchNorm1d(both), nn.ReLU(), nn.Linear(both, both), nn.ReLU(), nn.Linear(both, main_dim)
        )
        self.weights = nn.Parameter(torch.tensor([1.0, 1.0]))

    def forward(self, main: torch.Tensor, mod: torch.Tensor) -> torch.Tensor:
        both = torch.cat([main, mod], dim=-1)
        return torch.sigmoid(self.gate(both)) * main * self.weights[0] + self.residual(both) * self.weights[1]
