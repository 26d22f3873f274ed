"""Motion tokenizer (VQ-VAE): released layout loads strictly, save/load is exact, the codebook learns."""

import pytest
import torch

from engine.errors import InputError
from engine.models.quantize import Quantizer, perplexity
from engine.models.tokenizer import MotionTokenizer, TokenizerConfig, convert_released_state_dict


def documented_motiongpt_vae_layout(nfeats: int = 263, width: int = 512, codes: int = 512) -> dict[str, torch.Size]:
    """The 67 `vae.*` tensors of motiongpt_s3_h3d.tar (MotionGPT, github.com/OpenMotionLab/MotionGPT,
    `mGPT/archs/mgpt_vq.py`: the layer shapes that state dict holds)."""
    shapes = {"vae.encoder.model.0.weight": (width, nfeats, 3), "vae.encoder.model.0.bias": (width,)}
    for block in (2, 3):
        shapes[f"vae.encoder.model.{block}.0.weight"] = (width, width, 4)
        shapes[f"vae.encoder.model.{block}.0.bias"] = (width,)
        for res in range(3):
            for side in ("encoder", "decoder"):
                stem = f"vae.{side}.model.{block}.{1 if side == 'encoder' else 0}.model.{res}"
                shapes[f"{stem}.conv1.weight"] = (width, width, 3)
                shapes[f"{stem}.conv1.bias"] = (width,)
                shapes[f"{stem}.conv2.weight"] = (width, width, 1)
                shapes[f"{stem}.conv2.bias"] = (width,)
        shapes[f"vae.decoder.model.{block}.2.weight"] = (width, width, 3)
        shapes[f"vae.decoder.model.{block}.2.bias"] = (width,)
    for key, shape in {
        "vae.encoder.model.4": (width, width, 3),
        "vae.decoder.model.0": (width, width, 3),
        "vae.decoder.model.4": (width, width, 3),
        "vae.decoder.model.6": (nfeats, width, 3),
    }.items():
        shapes[f"{key}.weight"] = shape
        shapes[f"{key}.bias"] = (shape[0],)
    shapes["vae.quantizer.codebook"] = (codes, width)
    return shapes


def test_a_state_dict_of_the_released_layout_loads_strictly():
    layout = documented_motiongpt_vae_layout()
    assert len(layout) == 67
    released = {key: torch.randn(shape) for key, shape in layout.items()}
    released["lm.language_model.shared.weight"] = torch.randn(4, 4)  # the LM part is ignored
    model = MotionTokenizer(TokenizerConfig())
    model.load_state_dict(convert_released_state_dict(released), strict=True)
    assert torch.equal(model.quantizer.codebook, released["vae.quantizer.codebook"])
    assert torch.equal(model.decoder.model[6].weight, released["vae.decoder.model.6.weight"])


def test_t2m_gpt_prefix_and_kit_width_also_convert():
    layout = documented_motiongpt_vae_layout(nfeats=251, width=32, codes=64)
    released = {key.replace("vae.", "vqvae.", 1): torch.randn(shape) for key, shape in layout.items()}
    model = MotionTokenizer(TokenizerConfig(nfeats=251, width=32, code_dim=32, code_num=64))
    model.load_state_dict(convert_released_state_dict(released), strict=True)


def test_encode_decode_shapes_and_padding_mask():
    model = MotionTokenizer(TokenizerConfig.preset("tiny")).eval()
    features = torch.randn(3, 40, 263)
    ids, mask = model.encode(features, lengths=torch.tensor([40, 20, 8]))
    assert ids.shape == (3, 10) and ids.dtype == torch.int64
    assert mask.sum(dim=1).tolist() == [10, 5, 2]
    assert model.decode(ids).shape == (3, 40, 263)


@pytest.mark.parametrize("frames", [0, 6, 30])
def test_lengths_that_are_not_multiples_of_four_are_refused(frames):
    model = MotionTokenizer(TokenizerConfig.preset("tiny"))
    with pytest.raises(InputError, match="multiple of 4"):
        model.encode(torch.randn(1, frames, 263))


def test_save_load_round_trip_is_bit_identical(tmp_path):
    torch.manual_seed(0)
    model = MotionTokenizer(TokenizerConfig.preset("tiny"))
    model.train()
    model(torch.randn(4, 16, 263))  # initialise the codebook from data
    model.set_normalization_(torch.rand(263), torch.rand(263) + 0.5)
    model.eval()
    loaded = MotionTokenizer.load(model.save(tmp_path / "tok"))
    features = torch.randn(2, 16, 263)
    assert torch.equal(model.encode(features)[0], loaded.encode(features)[0])
    assert torch.equal(model.decode(model.encode(features)[0]), loaded.decode(loaded.encode(features)[0]))
    assert torch.equal(model.std, loaded.std)


def test_ema_moves_codes_to_their_cluster_means_and_resets_dead_codes():
    torch.manual_seed(0)
    quantizer = Quantizer("ema_reset", num_codes=4, code_dim=2, ema_decay=0.5, dead_code_threshold=0.5).train()
    centres = torch.tensor([[5.0, 0.0], [-5.0, 0.0]])
    data = centres.repeat_interleave(32, dim=0) + 0.01 * torch.randn(64, 2)  # (64, 2)
    latents = data.t()[None]  # (1, 2, 64)
    for _ in range(20):
        quantizer(latents)
    codebook = quantizer.codebook
    for centre in centres:  # each cluster has a code sitting on its mean
        assert (codebook - centre).norm(dim=1).min() < 0.05
    # no code stays dead: unused codes were re-seeded from the data, which lies near the centres
    assert ((codebook[:, None] - centres[None]).norm(dim=-1).min(dim=1).values < 0.1).all()


def test_ema_without_reset_keeps_unused_codes_where_they_are():
    torch.manual_seed(0)
    quantizer = Quantizer("ema", num_codes=8, code_dim=2, ema_decay=0.5).train()
    latents = (torch.tensor([[5.0, 0.0]]).repeat(16, 1) + 0.01 * torch.randn(16, 2)).t()[None]
    quantizer(latents)
    unused_before = quantizer.codebook.clone()
    out = quantizer(latents)
    used = torch.unique(out.indices)
    unused = torch.tensor([k for k in range(8) if k not in used.tolist()])
    if len(unused):
        assert torch.equal(quantizer.codebook[unused], unused_before[unused])


def test_learned_codebook_gets_gradients_from_the_codebook_term_only():
    quantizer = Quantizer("orig", num_codes=4, code_dim=3, codebook_weight=1.0, commitment_weight=0.25)
    latents = torch.randn(1, 3, 5, requires_grad=True)
    out = quantizer(latents)
    out.loss.backward()
    assert quantizer.codebook.grad is not None and quantizer.codebook.grad.abs().sum() > 0
    assert latents.grad is not None  # commitment term reaches the encoder


def test_perplexity_is_k_for_even_use_and_one_for_a_single_code():
    assert perplexity(torch.arange(8), 8).item() == pytest.approx(8.0, rel=1e-4)
    assert perplexity(torch.zeros(8, dtype=torch.long), 8).item() == pytest.approx(1.0, rel=1e-4)


def test_a_few_steps_of_training_lower_the_loss():
    torch.manual_seed(0)
    model = MotionTokenizer(TokenizerConfig.preset("tiny"))
    optimiser = torch.optim.AdamW(model.parameters(), lr=2e-3)
    time = torch.linspace(0, 6.28, 32)[None, :, None]
    features = torch.sin(time * torch.rand(8, 1, 263) * 3 + torch.rand(8, 1, 263) * 6.28)  # smooth curves
    first = None
    for _ in range(60):
        out = model(features)
        optimiser.zero_grad()
        out.loss.backward()
        optimiser.step()
        first = first if first is not None else out.loss.item()
    assert out.loss.item() < 0.8 * first


def test_root_path_error_sees_drift_not_noise():
    """The running-mean root-velocity term: a constant bias (which integrates into drift) costs far
    more than zero-mean noise of the same size; padded frames cost nothing; other channels are ignored."""
    from engine.models.tokenizer import root_path_error

    torch.manual_seed(0)
    features = torch.randn(2, 64, 263)
    weight = torch.ones(2, 64, 1)
    biased, noisy, elsewhere = features.clone(), features.clone(), features.clone()
    biased[..., :3] += 0.3
    noisy[..., :3] += 0.3 * torch.where(torch.arange(64) % 2 == 0, 1.0, -1.0)[None, :, None]
    elsewhere[..., 3:] += 0.3
    assert root_path_error(features, features, weight) == 0.0
    assert root_path_error(elsewhere, features, weight) == 0.0
    assert root_path_error(biased, features, weight) > 10 * root_path_error(noisy, features, weight)
    weight[1, 32:] = 0.0
    padded = features.clone()
    padded[1, 32:, :3] += 5.0
    assert root_path_error(padded, features, weight) == 0.0
