"""Pose editor (PoseFix `PoseBGenerator`): a conditional VAE mapping (pose A, correction text) to pose B.

Structure (Delmas et al. 2023; github.com/naver/posescript, `src/text2pose/generative_B/`): a shared
VPoser-style pose encoder; the prior
p(z | A, text) = Normal head over TIRG(enc(A), text); the posterior q(z | B) = Normal head over
enc(B); a VPoser decoder. Loss = Laplace NLL on FK joints + Gaussian NLL on rotation matrices (each
with a learned scale) + w_kld * KL(q || p) in closed form, clamped from below at `kld_epsilon`
during training on the posterior's side (PoseFix's guard against posterior collapse; see
`_training_kld` for why the prior's side is not clamped), + optional
w_kldnp * KL(q || N(0, I)). ELBO per coefficient = (-NLL - KL) / n_coeffs, as PoseFix reports it.
Also (`w_prior_recon`, not in PoseFix): the NLL of B decoded from the prior mean, Sohn et al.'s
hybrid CVAE objective, so that the mean edit is itself a good answer.

Deviation, on purpose (`residual=True`): the decoder also sees enc(A) and predicts B's 6D as A's
plus a correction, so the latent only has to carry the change. PoseFix decodes B from z alone and
needed 135k pairs; our automatically labelled sets are a few thousand pairs and the CPU budget is
minutes. `residual=False` gives PoseFix's decoder.

Shapes: poses `(B, 22, 6)` float32 6D local rotations (engine.models.pose_codec); texts: B strings.
Run the tests: `pytest -q tests/test_pose_editor.py`.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from torch import nn

from engine.describe.joints import normalise
from engine.errors import InputError
from engine.models.pose_codec import (
    NUM_JOINTS,
    TIRG,
    NormalHead,
    PoseDecoder,
    PoseEncoder,
    positions_to_sixd,
    sixd_to_positions,
)
from engine.models.text_encoder import TextEncoder, TextEncoderConfig, WordTokenizer
from engine.motion import rotations as R

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
TOKENIZER_FILE = "tokenizer.json"
N_JOINT_COEFFS = NUM_JOINTS * 3
N_ROT_COEFFS = NUM_JOINTS * 9


@dataclass
class PoseEditorConfig:
    latent_dim: int = 32  # PoseFix latentD
    hidden: int = 512  # VPoser num_neurons
    dropout: float = 0.1
    residual: bool = True  # decoder sees A and predicts a correction (see module docstring)
    text: TextEncoderConfig = field(default_factory=TextEncoderConfig)
    w_joints: float = 1.0
    w_rotations: float = 1.0
    w_kld: float = 1.0
    w_kldnp: float = 0.0
    kld_epsilon: float = 10.0  # PoseFix clamps the training KL below at 10 nats
    w_prior_recon: float = 1.0  # hybrid objective: also reconstruct B from the prior mean (see forward)

    def __post_init__(self) -> None:
        if isinstance(self.text, dict):
            self.text = TextEncoderConfig(**self.text)
        for name in ("latent_dim", "hidden"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name}={getattr(self, name)} must be >= 1")
        if self.kld_epsilon < 0:
            raise ValueError(f"kld_epsilon={self.kld_epsilon} must be >= 0")


@dataclass
class EditorOutput:
    prediction: torch.Tensor  # (B, 22, 6) decoded from a posterior sample
    loss: torch.Tensor  # scalar
    metrics: dict[str, torch.Tensor]  # scalars: nll_*, kld, elbo_*


class PoseEditor(nn.Module):
    def __init__(self, config: PoseEditorConfig, tokenizer: WordTokenizer | None = None) -> None:
        super().__init__()
        self.config = config
        d = config.latent_dim
        self.pose_encoder = PoseEncoder(d, config.hidden, config.dropout)
        self.text_encoder = TextEncoder(config.text, tokenizer)
        self.fusion = TIRG(d, config.text.out_dim)
        self.prior_head = NormalHead(d, d)
        self.posterior_head = NormalHead(d, d)
        self.decoder = PoseDecoder(2 * d if config.residual else d, config.hidden, config.dropout)
        self.log_scale_joints = nn.Parameter(torch.zeros(()))
        self.log_scale_rotations = nn.Parameter(torch.zeros(()))

    @property
    def tokenizer(self) -> WordTokenizer | None:
        return self.text_encoder.tokenizer

    def prior(self, sixd_a: torch.Tensor, texts: list[str]) -> tuple[torch.distributions.Normal, torch.Tensor]:
        """p(z | A, text) and enc(A) `(B, latent)`."""
        emb_a = self.pose_encoder(sixd_a)
        return self.prior_head(self.fusion(emb_a, self.text_encoder(texts))), emb_a

    def decode(self, z: torch.Tensor, emb_a: torch.Tensor, sixd_a: torch.Tensor) -> torch.Tensor:
        """z `(B, latent)` -> `(B, 22, 6)`."""
        if not self.config.residual:
            return self.decoder(z)
        return sixd_a + self.decoder(torch.cat([z, emb_a], dim=-1))

    def forward(self, sixd_a: torch.Tensor, sixd_b: torch.Tensor, texts: list[str]) -> EditorOutput:
        prior, emb_a = self.prior(sixd_a, texts)
        posterior = self.posterior_head(self.pose_encoder(sixd_b))
        prediction = self.decode(posterior.rsample(), emb_a, sixd_a)
        nll = self._nll(prediction, sixd_b)
        kld = torch.distributions.kl_divergence(posterior, prior).sum(-1)  # (B,) closed form
        kld_train = self._training_kld(posterior, prior) if self.training else kld.mean()
        c = self.config
        loss = sum(
            w * (nll[name].mean() + c.w_kld * kld_train) / n
            for name, w, n in (("joints", c.w_joints, N_JOINT_COEFFS), ("rotations", c.w_rotations, N_ROT_COEFFS))
        )
        if c.w_prior_recon > 0:
            # Sohn et al. 2015 (CVAE, "hybrid objective" with the GSNN term): decoding the prior mean must
            # land on B as well, or the mean edit is the decoder at an arbitrary point of a broad prior.
            from_prior = self._nll(self.decode(prior.loc, emb_a, sixd_a), sixd_b)
            loss = loss + c.w_prior_recon * sum(
                w * from_prior[name].mean() / n
                for name, w, n in (("joints", c.w_joints, N_JOINT_COEFFS), ("rotations", c.w_rotations, N_ROT_COEFFS))
            )
        if c.w_kldnp > 0:
            standard = torch.distributions.Normal(torch.zeros_like(posterior.loc), torch.ones_like(posterior.scale))
            loss = loss + c.w_kldnp * torch.distributions.kl_divergence(posterior, standard).sum(-1).mean()
        metrics = {"kld": kld.mean().detach(), "loss": loss.detach()}
        for name, n in (("joints", N_JOINT_COEFFS), ("rotations", N_ROT_COEFFS)):
            metrics[f"nll_{name}"] = (nll[name].mean() / n).detach()
            metrics[f"elbo_{name}"] = (-(nll[name] + kld) / n).mean().detach()
        return EditorOutput(prediction, loss, metrics)

    def _training_kld(self, posterior: torch.distributions.Normal, prior: torch.distributions.Normal) -> torch.Tensor:
        """KL term of the training loss. PoseFix clamps the batch KL below at `kld_epsilon` (free bits
        against posterior collapse). Our KLs sit below PoseFix's 10 nats, where that clamp would cut
        every gradient to the prior, leaving it untrained: so the clamp applies to the posterior's side
        only, and the prior always learns to match the (stopped-gradient) posterior."""

        def normal(dist: torch.distributions.Normal, detach: bool) -> torch.distributions.Normal:
            return torch.distributions.Normal(dist.loc.detach(), dist.scale.detach()) if detach else dist

        to_prior = torch.distributions.kl_divergence(normal(posterior, True), prior).sum(-1).mean()
        to_posterior = torch.distributions.kl_divergence(posterior, normal(prior, True)).sum(-1).mean()
        return to_prior + to_posterior.clamp(min=self.config.kld_epsilon)

    def _nll(self, prediction: torch.Tensor, target: torch.Tensor) -> dict[str, torch.Tensor]:
        """Per-sample NLLs `(B,)`: Laplace on FK joints (metres), Gaussian on rotation matrices."""
        joints_p, joints_t = sixd_to_positions(prediction), sixd_to_positions(target)
        b = self.log_scale_joints.exp()
        nll_joints = ((joints_p - joints_t).abs() / b + self.log_scale_joints + math.log(2.0)).flatten(1).sum(-1)
        rot_p, rot_t = R.sixd_to_matrix(prediction), R.sixd_to_matrix(target)
        sigma = self.log_scale_rotations.exp()
        nll_rot = (
            (0.5 * ((rot_p - rot_t) / sigma) ** 2 + self.log_scale_rotations + 0.5 * math.log(2 * math.pi))
            .flatten(1)
            .sum(-1)
        )
        return {"joints": nll_joints, "rotations": nll_rot}

    @torch.no_grad()
    def sample(self, sixd_a: torch.Tensor, texts: list[str], num_samples: int = 0) -> torch.Tensor:
        """Edited poses: the prior mean `(B, 22, 6)` when `num_samples` is 0, else `(B, S, 22, 6)`."""
        prior, emb_a = self.prior(sixd_a, texts)
        if num_samples <= 0:
            return self.decode(prior.loc, emb_a, sixd_a)
        z = prior.sample((num_samples,)).transpose(0, 1)  # (B, S, latent)
        flat = self.decode(
            z.reshape(-1, z.shape[-1]),
            emb_a.repeat_interleave(num_samples, 0),
            sixd_a.repeat_interleave(num_samples, 0),
        )
        return flat.view(len(texts), num_samples, NUM_JOINTS, 6)

    @torch.no_grad()
    def edit(self, pose_a: np.ndarray, text: str, num_samples: int = 0) -> dict[str, np.ndarray]:
        """Edit one pose given as joint positions `(22, 3)` metres (any heading: it is turned to face
        +Z first, PoseFix's normalisation) or canonical 6D local rotations `(22, 6)`.

        Returns float32 arrays: `sixd` `(22, 6)` / `(S, 22, 6)`, `quats` (w, x, y, z) `(..., 22, 4)`
        canonical local rotations, `positions` `(..., 22, 3)` metres on the default rest skeleton.
        """
        pose_a = np.asarray(pose_a, dtype=np.float32)
        if pose_a.shape == (NUM_JOINTS, 3):
            sixd = positions_to_sixd(normalise(pose_a[None].astype(np.float64)))
        elif pose_a.shape == (NUM_JOINTS, 6):
            sixd = pose_a[None]
        else:
            raise InputError(
                f"pose A has shape {pose_a.shape}; give (22, 3) joint positions in metres or "
                f"(22, 6) 6D local rotations of the canonical SMPL-22 skeleton."
            )
        if not isinstance(text, str) or not text.strip():
            raise InputError("the correction text is empty; describe the change, e.g. 'raise the left arm'.")
        self.eval()
        device = next(self.parameters()).device
        out = self.sample(torch.from_numpy(sixd).to(device), [text], num_samples)[0]
        return {
            "sixd": out.cpu().numpy(),
            "quats": R.sixd_to_quat(out).cpu().numpy(),
            "positions": sixd_to_positions(out.reshape(-1, NUM_JOINTS, 6)).reshape(out.shape[:-1] + (3,)).cpu().numpy(),
        }

    # --- persistence ----------------------------------------------------------------------------
    def save(self, directory: str | Path) -> Path:
        """Write `config.json`, `model.safetensors` (+ `tokenizer.json` for a bigru text encoder)."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        (directory / CONFIG_FILE).write_text(json.dumps({"model": "pose_editor", **asdict(self.config)}, indent=2))
        save_file({k: v.detach().contiguous().cpu() for k, v in self.state_dict().items()}, directory / WEIGHTS_FILE)
        if self.tokenizer is not None:
            self.tokenizer.save(directory / TOKENIZER_FILE)
        return directory

    @classmethod
    def load(cls, directory: str | Path, device: str | torch.device = "cpu") -> PoseEditor:
        directory = Path(directory)
        if not (directory / CONFIG_FILE).is_file():
            raise InputError(
                f"{directory} is not a pose editor directory (no {CONFIG_FILE}); train one with `motion-train posefix`."
            )
        values = json.loads((directory / CONFIG_FILE).read_text())
        values.pop("model", None)
        config = PoseEditorConfig(**values)
        tokenizer = WordTokenizer.load(directory / TOKENIZER_FILE) if (directory / TOKENIZER_FILE).is_file() else None
        model = cls(config, tokenizer)
        model.load_state_dict(load_file(directory / WEIGHTS_FILE), strict=True)
        return model.to(device).eval()
