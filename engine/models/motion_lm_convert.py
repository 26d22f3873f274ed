"""Convert a MotionGPT release checkpoint (+ a local T5 tokenizer) into this project's format.

The release (`motiongpt_s3_h3d.tar` of MotionGPT, Jiang et al. 2023, github.com/OpenMotionLab/MotionGPT)
is a Lightning dict whose
`state_dict` holds the language model under `lm.language_model.` (Hugging Face T5 names) and the
VQ-VAE under `vae.`; evaluator copies (`metrics.*`) and loss buffers are ignored. The T5 shapes
are read off the tensors; the motion vocabulary is the rows the T5 has beyond the text tokenizer
(MotionGPT: 32,615 = 32,100 + 512 codes + start/end/mask).

    python -m engine.models.motion_lm_convert CHECKPOINT T5_TOKENIZER_DIR OUT_DIR [--mean M.npy --std S.npy]

writes OUT_DIR/lm (MotionLM.save layout) and OUT_DIR/tokenizer (MotionTokenizer.save layout).
Checkpoints are read with safetensors or `torch.load(weights_only=True)`: never unpickled code.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from transformers import T5Config, T5ForConditionalGeneration

from engine.errors import InputError
from engine.models.motion_lm import MotionLM, config_from_t5
from engine.models.text_tokenizer import add_motion_tokens, load_text_tokenizer
from engine.models.tokenizer import MotionTokenizer, TokenizerConfig, convert_released_state_dict

LM_PREFIX = "lm.language_model."


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """Tensors of a checkpoint file: safetensors, or a torch file (optionally nested under `state_dict`)."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"checkpoint {path} does not exist")
    if path.suffix == ".safetensors":
        return load_file(path)
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises UnpicklingError/RuntimeError subclasses for foreign content
        raise InputError(
            f"{path} could not be read as a weights-only torch checkpoint ({error}); "
            "re-save it with safetensors or plain tensors"
        ) from error
    if isinstance(data, dict) and isinstance(data.get("state_dict"), dict):
        data = data["state_dict"]
    if not isinstance(data, dict):
        raise InputError(f"{path} holds a {type(data).__name__}, not a state dict")
    return {k: v for k, v in data.items() if isinstance(v, torch.Tensor)}


def t5_config_from_state_dict(weights: dict[str, torch.Tensor], pad_id: int, eos_id: int):
    """A T5Config matching the tensors of an HF T5ForConditionalGeneration state dict."""

    def count(stack: str) -> int:
        blocks = {int(m.group(1)) for k in weights if (m := re.match(rf"{stack}\.block\.(\d+)\.", k))}
        return max(blocks) + 1 if blocks else 0

    vocab_size, d_model = weights["shared.weight"].shape
    bias = weights["encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight"]
    buckets, heads = bias.shape
    inner = weights["encoder.block.0.layer.0.SelfAttention.q.weight"].shape[0]
    gated = "encoder.block.0.layer.1.DenseReluDense.wi_0.weight" in weights
    wi = weights["encoder.block.0.layer.1.DenseReluDense." + ("wi_0" if gated else "wi") + ".weight"]
    # transformers 5 reads tie_word_embeddings=False as "T5 v1.1: untied head, no output scaling"
    tied = "lm_head.weight" not in weights or torch.equal(weights["lm_head.weight"], weights["shared.weight"])
    return T5Config(
        vocab_size=vocab_size,
        d_model=d_model,
        d_kv=inner // heads,
        d_ff=wi.shape[0],
        num_layers=count("encoder"),
        num_decoder_layers=count("decoder"),
        num_heads=heads,
        relative_attention_num_buckets=buckets,
        feed_forward_proj="gated-gelu" if gated else "relu",
        tie_word_embeddings=tied,
        pad_token_id=pad_id,
        eos_token_id=eos_id,
        decoder_start_token_id=pad_id,
    )


def tokenizer_config_from_state_dict(weights: dict[str, torch.Tensor]):
    """TokenizerConfig matching MotionGPT's VQ tensors (prefix already stripped)."""
    code_num, code_dim = weights["quantizer.codebook"].shape
    width, nfeats = weights["encoder.model.0.weight"].shape[:2]  # Conv1d weight: (out, in, kernel)
    down_t = len({m.group(1) for k in weights if (m := re.match(r"encoder\.model\.(\d+)\.0\.weight", k))})
    depth = len({m.group(1) for k in weights if (m := re.match(r"encoder\.model\.2\.1\.model\.(\d+)\.conv1", k))})
    stride_t = weights["encoder.model.2.0.weight"].shape[-1] // 2
    return TokenizerConfig(
        nfeats=nfeats, code_num=code_num, code_dim=code_dim, width=width, down_t=down_t, depth=depth, stride_t=stride_t
    )


def convert_motiongpt(
    checkpoint: str | Path,
    t5_tokenizer_dir: str | Path,
    out_dir: str | Path,
    mean: np.ndarray | None = None,
    std: np.ndarray | None = None,
) -> tuple[Path, Path]:
    """Write OUT/lm and OUT/tokenizer from a MotionGPT release; returns both directories.

    mean/std `(263,)`: the feature statistics the release was trained with (MotionGPT ships them
    as assets/meta/{mean,std}.npy); without them the tokenizer normalisation is left at 0/1.
    """
    weights = read_state_dict(checkpoint)
    lm_weights = {k[len(LM_PREFIX) :]: v for k, v in weights.items() if k.startswith(LM_PREFIX)}
    if "shared.weight" not in lm_weights:
        raise InputError(
            f"{checkpoint} has no language model under '{LM_PREFIX}' (expected e.g. "
            f"'{LM_PREFIX}shared.weight'); is it a MotionGPT stage-2/3 checkpoint?"
        )
    tokenizer = load_text_tokenizer(t5_tokenizer_dir)
    code_num = lm_weights["shared.weight"].shape[0] - len(tokenizer) - 3
    if code_num < 1:
        raise InputError(
            f"the checkpoint's vocabulary ({lm_weights['shared.weight'].shape[0]} rows) is not larger "
            f"than the tokenizer's ({len(tokenizer)}): use the T5 tokenizer the release was built on"
        )
    vocab = add_motion_tokens(tokenizer, code_num)
    if "encoder.embed_tokens.weight" not in lm_weights:  # tied copies of `shared` may be left out of a file
        lm_weights = {
            **lm_weights,
            "encoder.embed_tokens.weight": lm_weights["shared.weight"],
            "decoder.embed_tokens.weight": lm_weights["shared.weight"],
        }
    out_dir = Path(out_dir)
    lm_dir = out_dir / "lm"
    lm_dir.mkdir(parents=True, exist_ok=True)
    # Loading through from_pretrained (not load_state_dict) lets transformers untie lm_head from the
    # embeddings when the file holds both with different values (FLAN-T5 / T5 v1.1 have an untied head).
    t5_config_from_state_dict(lm_weights, tokenizer.pad_token_id, tokenizer.eos_token_id).save_pretrained(str(lm_dir))
    save_file({k: v.detach().clone().contiguous() for k, v in lm_weights.items()}, lm_dir / "model.safetensors")
    try:
        model, info = T5ForConditionalGeneration.from_pretrained(
            str(lm_dir), local_files_only=True, output_loading_info=True
        )
    except (RuntimeError, ValueError) as error:
        raise InputError(f"{checkpoint}: language model tensors do not fit a T5 ({error})") from error
    problems = {
        k: sorted(v)[:3] for k, v in info.items() if k in ("missing_keys", "unexpected_keys", "mismatched_keys") and v
    }
    if problems:
        raise InputError(f"{checkpoint}: language model tensors do not fit a T5: {problems}")
    lm = MotionLM(model.eval(), tokenizer, vocab, config_from_t5(model.config))
    lm.save(lm_dir)

    vq_weights = convert_released_state_dict(weights)
    vq = MotionTokenizer(tokenizer_config_from_state_dict(vq_weights))
    vq.load_state_dict(vq_weights, strict=True)
    if vq.config.code_num != code_num:
        raise InputError(
            f"{checkpoint}: the VQ has {vq.config.code_num} codes but the language model {code_num} motion codes"
        )
    if mean is not None and std is not None:
        vq.set_normalization_(torch.as_tensor(mean), torch.as_tensor(std))
    return lm_dir, vq.save(out_dir / "tokenizer")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint", type=Path)
    parser.add_argument("t5_tokenizer_dir", type=Path)
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--mean", type=Path, help="feature mean (263,) .npy the release was trained with")
    parser.add_argument("--std", type=Path, help="feature std (263,) .npy")
    args = parser.parse_args(argv)
    mean = np.load(args.mean, allow_pickle=False) if args.mean else None
    std = np.load(args.std, allow_pickle=False) if args.std else None
    lm_dir, vq_dir = convert_motiongpt(args.checkpoint, args.t5_tokenizer_dir, args.out_dir, mean, std)
    print(f"language model -> {lm_dir}\nmotion tokenizer -> {vq_dir}")


if __name__ == "__main__":
    main()
