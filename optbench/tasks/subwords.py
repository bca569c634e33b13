"""Subword vocabularies (BPE from `tokenizers`) trained on a training split, cached on disk: a joint one for
translation (Metaspace pre-tokenisation, NFKC) and a byte-level one for language modelling (GPT-2's scheme: every
byte is a base symbol, so no text is ever out of vocabulary).

The cache key hashes the training text and the tokenizer settings, so a different dataset, direction-independent
text or vocabulary size never reuses a stale file.
"""

from __future__ import annotations

import hashlib
import os
import uuid
from pathlib import Path

from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers

SPECIALS = ("<pad>", "<s>", "</s>", "<unk>")
PAD, BOS, EOS, UNK = range(4)


def tokenizer_key(texts: list[str], vocab_size: int, min_frequency: int) -> str:
    h = hashlib.sha256(f"bpe-metaspace-nfkc|{vocab_size}|{min_frequency}|".encode())
    for line in texts:
        h.update(line.encode())
        h.update(b"\n")
    return h.hexdigest()[:16]


def train_tokenizer(texts: list[str], vocab_size: int, min_frequency: int = 2) -> Tokenizer:
    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.normalizer = normalizers.NFKC()
    tok.pre_tokenizer = pre_tokenizers.Metaspace()
    tok.decoder = decoders.Metaspace()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, min_frequency=min_frequency, special_tokens=list(SPECIALS), show_progress=False
    )
    tok.train_from_iterator(texts, trainer)
    return tok


END_OF_TEXT = "<|endoftext|>"  # the byte-level vocabulary's one special token (id 0), between documents


def train_byte_tokenizer(texts: list[str], vocab_size: int, min_frequency: int = 2) -> Tokenizer:
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=min_frequency,
        special_tokens=[END_OF_TEXT],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer)
    return tok


def load_or_train_tokenizer(
    texts: list[str], vocab_size: int, cache_dir: Path | None, min_frequency: int = 2, byte_level: bool = False
):
    """The tokenizer for ``texts``: read from ``cache_dir`` when cached, else trained and cached atomically."""
    path = None
    if cache_dir is not None:
        key = tokenizer_key(texts, vocab_size, min_frequency)
        if byte_level:  # a different scheme, so a different key (the MT files keep their names)
            key = tokenizer_key([f"byte-level|{key}"], vocab_size, min_frequency)
        path = Path(cache_dir) / f"{'bytebpe' if byte_level else 'bpe'}-{key}.json"
        if path.is_file():
            return Tokenizer.from_file(str(path))
    train = train_byte_tokenizer if byte_level else train_tokenizer
    tok = train(texts, vocab_size, min_frequency)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{uuid.uuid4().hex[:8]}.tmp")
        tok.save(str(tmp))
        os.replace(tmp, path)
    return tok
