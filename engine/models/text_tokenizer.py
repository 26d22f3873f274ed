"""Text tokenizer of the motion-language model: a user's local Hugging Face tokenizer, or one trained here.

When no pretrained T5 tokenizer is installed, `train_text_tokenizer` fits a SentencePiece-style
Unigram model (Hugging Face `tokenizers`) on the caption and template corpus and wraps it as a
`PreTrainedTokenizerFast` laid out like T5's: pad = 0, eos `</s>` = 1, unk = 2, sentinels
`<extra_id_0..N-1>` for span corruption, `</s>` appended to every encoded sequence. Motion tokens
are added afterwards by `add_motion_tokens` (engine.models.motion_vocab). Nothing is downloaded:
`load_text_tokenizer` only opens local directories.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
from transformers import AutoTokenizer, PreTrainedTokenizerFast

from engine.errors import InputError
from engine.models.motion_vocab import MotionVocab, motion_token_strings

SPECIAL_TOKENS = ("<pad>", "</s>", "<unk>")  # T5's ids 0, 1, 2
DEFAULT_EXTRA_IDS = 100  # T5 has 100 sentinels


def train_text_tokenizer(corpus: Iterable[str], vocab_size: int = 2000, extra_ids: int = DEFAULT_EXTRA_IDS):
    """Fit a Unigram tokenizer on `corpus` (sentences) and return a T5-style PreTrainedTokenizerFast.

    vocab_size counts the learned pieces plus the 3 special tokens; the sentinels come on top.
    """
    tokenizer = Tokenizer(models.Unigram())
    # T5's SentencePiece model: NFKC, whitespace as "▁" glued to the next word, decoded back to spaces.
    tokenizer.normalizer = normalizers.Sequence([normalizers.NFKC(), normalizers.Replace("\n", " ")])
    tokenizer.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always")
    tokenizer.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always")
    trainer = trainers.UnigramTrainer(
        vocab_size=vocab_size, special_tokens=list(SPECIAL_TOKENS), unk_token="<unk>", show_progress=False
    )
    tokenizer.train_from_iterator(list(corpus), trainer=trainer)
    tokenizer.post_processor = processors.TemplateProcessing(
        single="$A </s>", pair="$A </s> $B </s>", special_tokens=[("</s>", tokenizer.token_to_id("</s>"))]
    )
    sentinels = [f"<extra_id_{i}>" for i in range(extra_ids)]
    wrapped = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer, pad_token="<pad>", eos_token="</s>", unk_token="<unk>"
    )
    wrapped.add_special_tokens({"additional_special_tokens": sentinels})
    return wrapped


def load_text_tokenizer(directory: str | Path):
    """A Hugging Face tokenizer from a local directory (e.g. a FLAN-T5 checkout); never downloads."""
    directory = Path(directory)
    if not directory.is_dir():
        raise InputError(
            f"text tokenizer directory {directory} does not exist; point at a local Hugging Face "
            "tokenizer folder (tokenizer.json / spiece.model) or train one with the pretrain stage"
        )
    try:
        return AutoTokenizer.from_pretrained(str(directory), local_files_only=True)
    except (OSError, ValueError) as error:
        raise InputError(f"{directory} is not a Hugging Face tokenizer directory ({error})") from error


def sentinel_ids(tokenizer, count: int) -> list[int]:
    """Token ids of `<extra_id_0..count-1>`; raises InputError when the tokenizer has too few."""
    ids = tokenizer.convert_tokens_to_ids([f"<extra_id_{i}>" for i in range(count)])
    if any(i is None or i == tokenizer.unk_token_id for i in ids):
        raise InputError(
            f"the text tokenizer lacks the sentinel tokens <extra_id_0..{count - 1}> that span "
            "corruption needs; use a T5 tokenizer or one trained by the project"
        )
    return ids


def all_sentinel_ids(tokenizer) -> list[int]:
    """Ids of `<extra_id_0>`, `<extra_id_1>`, ... as far as the tokenizer has them (T5: 100)."""
    vocabulary = tokenizer.get_vocab()
    ids = []
    while f"<extra_id_{len(ids)}>" in vocabulary:
        ids.append(vocabulary[f"<extra_id_{len(ids)}>"])
    if not ids:
        raise InputError(
            "the text tokenizer has no sentinel tokens <extra_id_*> for span corruption; "
            "use a T5 tokenizer or one trained by the project"
        )
    return ids


def add_motion_tokens(tokenizer, code_num: int) -> MotionVocab:
    """Append `<motion_id_0..K+2>` as ordinary added tokens (MotionGPT keeps them non-special so that
    decoding with skip_special_tokens keeps them) and return where they landed."""
    strings = motion_token_strings(code_num)
    present = tokenizer.convert_tokens_to_ids(strings[0])
    if present is not None and present != tokenizer.unk_token_id:
        offset = present
    else:
        offset = len(tokenizer)
        tokenizer.add_tokens(strings)
    vocab = MotionVocab(code_num, offset)
    ids = tokenizer.convert_tokens_to_ids(strings)
    if ids != list(range(vocab.offset, vocab.stop)):
        raise InputError(
            f"motion tokens of the text tokenizer are not contiguous from id {offset}; "
            "use a tokenizer without other <motion_id_*> tokens"
        )
    return vocab
