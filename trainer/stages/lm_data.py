"""Data of the motion-language-model stages: cached motion codes, captions, batches of token ids.

Motion codes come from the frozen motion tokenizer, computed once per (tokenizer, dataset, split)
and cached as safetensors next to the run (`code_cache/<split>.safetensors` + a JSON key naming the
tokenizer weights' hash and the data folder, so a changed tokenizer is never served stale codes).
Clips longer than `max_codes` are cropped at a random offset each time they are drawn.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from safetensors.numpy import load_file, save_file

from engine.errors import InputError
from engine.formats.humanml3d import open_dataset
from engine.models.tokenizer import CONFIG_FILE, MotionTokenizer, TokenizerConfig
from trainer.data.instructions import load_templates


@dataclass
class MotionEntry:
    motion_id: str
    codes: np.ndarray  # (L,) int64 codes of the whole clip
    captions: tuple[str, ...]  # may be empty (motion-only data)


def _tokenizer_key(tokenizer_dir: Path, data_dir: Path, split: str) -> dict:
    digest = hashlib.sha256((tokenizer_dir / "model.safetensors").read_bytes()).hexdigest()[:16]
    norm = hashlib.sha256((tokenizer_dir / "normalization.safetensors").read_bytes()).hexdigest()[:16]
    return {"tokenizer": digest, "normalization": norm, "data_dir": str(data_dir.resolve()), "split": split}


def encode_split(tokenizer, data_dir: Path, split: str) -> dict[str, np.ndarray]:
    """Codes `(floor(T/4),)` of every clip of a split, through the tokenizer's own normalisation."""
    dataset = open_dataset(data_dir)
    unit = tokenizer.config.downsample
    codes = {}
    for motion_id in dataset.ids(split):
        features = dataset.features(motion_id)
        frames = len(features) // unit * unit
        if frames == 0:
            continue
        normalised = tokenizer.normalize(torch.from_numpy(features[:frames]))[None]
        ids, _ = tokenizer.encode(normalised)
        codes[motion_id] = ids[0].numpy().astype(np.int64)
    return codes


def cached_codes(
    tokenizer_dir: str | Path, data_dir: str | Path, split: str, cache_dir: str | Path
) -> dict[str, np.ndarray]:
    """Motion codes of a split, read from the cache when its key matches, else encoded and cached."""
    tokenizer_dir, data_dir, cache_dir = Path(tokenizer_dir), Path(data_dir), Path(cache_dir)
    if not (tokenizer_dir / "model.safetensors").is_file():
        raise InputError(
            f"--tokenizer_dir {tokenizer_dir} holds no trained motion tokenizer; "
            "train one with `motion-train tokenizer`"
        )
    key = _tokenizer_key(tokenizer_dir, data_dir, split)
    path, key_path = cache_dir / f"{split}.safetensors", cache_dir / f"{split}.json"
    if path.is_file() and key_path.is_file() and json.loads(key_path.read_text()) == key:
        return load_file(path)
    tokenizer = MotionTokenizer.load(tokenizer_dir)
    codes = encode_split(tokenizer, data_dir, split)
    cache_dir.mkdir(parents=True, exist_ok=True)
    if codes:
        save_file(codes, path)
        key_path.write_text(json.dumps(key, indent=2))
    return codes


def load_entries(
    tokenizer_dir: str | Path, data_dir: str | Path, split: str, cache_dir: str | Path
) -> list[MotionEntry]:
    """Every clip of a split with its codes and distinct captions."""
    dataset = open_dataset(data_dir)
    codes = cached_codes(tokenizer_dir, data_dir, split, cache_dir)
    entries = []
    for motion_id in dataset.ids(split):
        if motion_id not in codes:
            continue
        try:
            captions = tuple(dict.fromkeys(t.caption for t in dataset.texts(motion_id) if t.caption))
        except InputError:
            captions = ()
        entries.append(MotionEntry(motion_id, codes[motion_id], captions))
    if not entries:
        raise InputError(f"split {split!r} of {data_dir} has no motion; build the data with `motion-train data`")
    return entries


def action_of(row: dict) -> str:
    """The action a meta.jsonl row shows: its source and content (Bandai) or kind (procedural)."""
    labels = row.get("labels") or {}
    return f"{row.get('source', '')}:{labels.get('content') or labels.get('kind') or row.get('cell', '')}"


def action_weights(data_dir: str | Path, entries: list[MotionEntry], balance: float) -> np.ndarray | None:
    """Draw probabilities `(len(entries),)` for clips, each proportional to (clips of its action)^-balance:
    0 draws every clip alike (None: plain uniform), 1 every action alike, 0.5 between the two.

    Why: the mixed build has 2,800 clips of Bandai dataset 2's ten actions and ~40 of each procedural
    kind; drawn uniformly, a kind like "sit down" is 1 % of the text-to-motion examples and the model
    never learns it (measured: training captions of sit_down, turn and side_steps gave no such motion).
    """
    if balance == 0:
        return None
    meta_path = Path(data_dir) / "meta.jsonl"
    if not meta_path.is_file():
        raise InputError(f"--balance_actions needs {meta_path} (written by `motion-train data`)")
    actions = {}
    for line in meta_path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            row = json.loads(line)
            actions[row["id"]] = action_of(row)
    keys = [actions.get(e.motion_id, "") for e in entries]
    counts = Counter(keys)
    weights = np.array([counts[k] ** -balance for k in keys], dtype=np.float64)
    return weights / weights.sum()


def tokenizer_code_num(tokenizer_dir: str | Path) -> int:
    """Codebook size K of a saved motion tokenizer (from its config.json, without loading weights)."""
    path = Path(tokenizer_dir) / CONFIG_FILE
    if not path.is_file():
        raise InputError(
            f"--tokenizer_dir {tokenizer_dir} holds no motion tokenizer ({CONFIG_FILE} missing); "
            "train one with `motion-train tokenizer`"
        )
    return TokenizerConfig(**json.loads(path.read_text())).code_num


def crop(codes: np.ndarray, max_codes: int, rng: np.random.Generator) -> list[int]:
    """A random window of at most `max_codes` codes."""
    if len(codes) <= max_codes:
        return codes.tolist()
    start = int(rng.integers(0, len(codes) - max_codes + 1))
    return codes[start : start + max_codes].tolist()


@dataclass
class Example:
    """One training pair as token ids (targets end with `</s>`); `kind` names its task for the logs."""

    inputs: list[int]
    targets: list[int]
    kind: str
    condition: str = ""  # the caption the input holds, for the sentence-encoder prefix ("" when none)


def text_example(
    tokenizer, source: str, target: str, kind: str, max_input: int, max_target: int, condition: str = ""
) -> Example:
    inputs = tokenizer(source, truncation=True, max_length=max_input).input_ids
    targets = tokenizer(target, truncation=True, max_length=max_target).input_ids
    return Example(inputs, targets, kind, condition)


def without_caption(source: str, caption: str) -> str:
    """The prompt with its caption's words taken out, so that only the text prefix carries them
    ("Text to motion: a person walks" -> "Text to motion:"; the engine's prefix-only prompts look the same)."""
    return " ".join(source.replace(caption, "").split())


def collate(
    examples: list[Example],
    pad_id: int,
    sentences: Callable[[list[str | None]], tuple[torch.Tensor, torch.Tensor]] | None = None,
) -> dict[str, torch.Tensor]:
    """input_ids / attention_mask `(B, L_in)` and labels `(B, L_out)` (-100 on padding); with
    `sentences` (MotionLM.sentence_vectors) also the captions' sentence vectors `(B, 384)` and
    which rows have one `(B,)`, for a model with a text prefix."""
    width_in = max(len(e.inputs) for e in examples)
    width_out = max(len(e.targets) for e in examples)
    input_ids = torch.full((len(examples), width_in), pad_id, dtype=torch.long)
    labels = torch.full((len(examples), width_out), -100, dtype=torch.long)
    for row, example in enumerate(examples):
        input_ids[row, : len(example.inputs)] = torch.tensor(example.inputs)
        labels[row, : len(example.targets)] = torch.tensor(example.targets)
    batch = {"input_ids": input_ids, "attention_mask": (input_ids != pad_id).long(), "labels": labels}
    if sentences is not None:
        batch["sentence_vectors"], batch["sentence_present"] = sentences([e.condition or None for e in examples])
    return batch


def text_corpus(entries: list[MotionEntry], extra: list[str] = ()) -> list[str]:
    """Sentences to fit a text tokenizer on: captions, instruction templates (placeholders removed), extras."""
    sentences = [c for e in entries for c in e.captions] + list(extra)
    for sides in load_templates().values():
        for template in sides["input"] + sides["output"]:
            sentences.append(re.sub(r"<[A-Za-z_0-9]+>", " ", template))
    sentences += [f"{n} frames, {n / 20:.1f} seconds" for n in range(4, 400, 4)]  # numbers the length tasks say
    return sentences
