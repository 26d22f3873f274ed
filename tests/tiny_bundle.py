"""A tiny, untrained model bundle for the engine's path tests (not a test module).

Every component a model op needs, at toy sizes (a 16-code tiny tokenizer, a d_model 32 T5, a small
PoseFix editor and writer), written in seconds. Untrained: tests check shapes, lengths and errors.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

CODES = 16
CORPUS = [
    "a person walks forward and waves",
    "someone jumps twice in place",
    "a man runs in a circle",
    "Text to motion: the person kicks with the left leg",
    "Motion to text: describe it",
    "Motion prediction: go on",
    "Complete the masked motion: fill it",
] * 5
POSE_TEXTS = ["Raise your left arm.", "Lower your right arm a bit.", "Bend your left knee more."]


def write_tiny_bundle(
    root: Path, components: tuple[str, ...] = ("tokenizer", "language_model", "pose_editor", "correction_writer")
) -> Path:
    """Write `root/manifest.json` and the named components; returns root."""
    import torch
    from transformers import AutoTokenizer

    from engine.models.correction_writer import CorrectionWriter, CorrectionWriterConfig
    from engine.models.motion_lm import MotionLM, MotionLMConfig
    from engine.models.pose_editor import PoseEditor, PoseEditorConfig
    from engine.models.text_encoder import TextEncoderConfig, WordTokenizer
    from engine.models.text_tokenizer import train_text_tokenizer
    from engine.models.tokenizer import MotionTokenizer, TokenizerConfig

    root.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    if "tokenizer" in components:
        MotionTokenizer(TokenizerConfig.preset("tiny", code_num=CODES)).eval().save(root / "tokenizer")
    if "language_model" in components:
        text_dir = root / "_text_tokenizer"
        train_text_tokenizer(CORPUS, vocab_size=120, extra_ids=20).save_pretrained(str(text_dir))
        lm = MotionLM.create(
            MotionLMConfig.preset("tiny", max_motion_codes=20, dropout_rate=0.0),
            AutoTokenizer.from_pretrained(str(text_dir)),
            CODES,
            seed=0,
        )
        lm.save(root / "language_model")
    words = WordTokenizer.train(POSE_TEXTS)
    if "pose_editor" in components:
        text = TextEncoderConfig(kind="bigru", out_dim=16, vocab_size=words.vocab_size, embed_dim=8)
        PoseEditor(PoseEditorConfig(latent_dim=8, hidden=32, text=text), words).save(root / "pose_editor")
    if "correction_writer" in components:
        config = CorrectionWriterConfig(
            vocab_size=words.vocab_size, d_model=16, layers=1, heads=2, ff=32, latent_dim=8, hidden=16, max_len=12
        )
        CorrectionWriter(config, words).save(root / "correction_writer")
    manifest = {
        "format": "motion-copilot-bundle",
        "version": 1,
        "components": {name: {"path": name} for name in components},
    }
    (root / "manifest.json").write_text(json.dumps(manifest, indent=2))
    return root


def write_gated_tiny_bundle(root: Path) -> Path:
    """The tiny bundle plus the shipped prompt gate (untrained models are fast; the gate's verdicts are real)."""
    from engine.bundle import default_bundle_dir

    write_tiny_bundle(root)
    shutil.copytree(default_bundle_dir() / "prompt_gate", root / "prompt_gate")
    manifest = json.loads((root / "manifest.json").read_text(encoding="utf-8"))
    manifest["components"]["prompt_gate"] = {"path": "prompt_gate"}
    (root / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    return root
