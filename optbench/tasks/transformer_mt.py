"""Machine translation: a small encoder-decoder Transformer on Multi30k (or WMT'14), scored with sacreBLEU.

Training loss is label-smoothed cross-entropy per target token; throughput counts target tokens. Each evaluation
decodes the validation set (greedy by default) and reports BLEU and chrF on detokenised text against the raw
references; the final evaluation decodes the test set with beam search and records the sacreBLEU signature.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import torch
import torch.nn.functional as F
from sacrebleu.metrics import BLEU, CHRF
from torch import nn
from tqdm.auto import tqdm

from optbench.errors import OptbenchError
from optbench.tasks.base import Batch, Task
from optbench.tasks.batching import pad, token_batches
from optbench.tasks.decoding import beam_search, greedy_decode, max_output_len
from optbench.tasks.parallel_data import load_parallel
from optbench.tasks.subwords import BOS, EOS, PAD, load_or_train_tokenizer
from optbench.tasks.transformer import ATTENTION_KERNELS, Seq2SeqTransformer


class TransformerMT(Task):
    unit = "tokens"
    metric = "bleu"

    @classmethod
    def check_config(cls, cfg) -> None:
        kernel = cfg.model.get("attention", "auto")
        if kernel != "auto" and kernel not in ATTENTION_KERNELS:
            raise OptbenchError(
                f"task.model.attention={kernel!r} is not an attention kernel; choose auto (math on the CPU, "
                f"PyTorch's choice on CUDA), {', '.join(ATTENTION_KERNELS)}."
            )
        for key, low in (("val_beam", 0), ("beam", 1)):
            value = cfg.eval.get(key)
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise OptbenchError(
                    f"task.eval.{key}={value!r} must be an integer >= {low} (1 = greedy"
                    + (", 0 = validation loss only, no decoding)." if low == 0 else ", more = beam search).")
                )

    def load(self) -> None:
        cfg = self.cfg
        self.data = load_parallel(cfg, self.data_root)
        if cfg.get("train_subset"):
            self.data["train"] = tuple(side[: cfg.train_subset] for side in self.data["train"])
        for split in ("val", "test"):
            if cfg.get("eval_subset"):
                self.data[split] = tuple(side[: cfg.eval_subset] for side in self.data[split])
        src_train, tgt_train = self.data["train"]
        # the joint vocabulary depends on the language pair, not the direction: sort the sides by language
        sides = sorted([(cfg.src, src_train), (cfg.tgt, tgt_train)])
        self.tokenizer = load_or_train_tokenizer(sides[0][1] + sides[1][1], cfg.vocab_size, self.cache_dir)
        self.ids = {split: self._encode(*self.data[split]) for split in ("train", "val")}
        keep = [
            i
            for i, (s, t) in enumerate(zip(*self.ids["train"], strict=True))
            if len(s) <= cfg.max_len and len(t) <= cfg.max_len
        ]
        self.ids["train"] = tuple([side[i] for i in keep] for side in self.ids["train"])
        self.train_lens = tuple([len(x) for x in side] for side in self.ids["train"])
        self._n_batches = len(token_batches(*self.train_lens, cfg.max_tokens))

    def _encode(self, src: list[str], tgt: list[str]) -> tuple[list[list[int]], list[list[int]]]:
        enc = self.tokenizer.encode_batch
        return ([e.ids + [EOS] for e in enc(src)], [[BOS] + e.ids + [EOS] for e in enc(tgt)])

    def build_model(self) -> nn.Module:
        return Seq2SeqTransformer(self.tokenizer.get_vocab_size(), PAD, **self.cfg.model)

    def describe_batching(self) -> str:
        return (
            f"{len(self.ids['train'][0])} training pairs of at most task.max_len={self.cfg.max_len} tokens, "
            f"task.max_tokens={self.cfg.max_tokens}"
        )

    def steps_per_epoch(self) -> int:
        return self._n_batches

    def train_batches(self, epoch: int) -> Iterator[Batch]:
        src_ids, tgt_ids = self.ids["train"]
        for idx in token_batches(*self.train_lens, self.cfg.max_tokens, self.epoch_generator(epoch)):
            src = pad([src_ids[i] for i in idx], PAD).to(self.device, non_blocking=True)
            tgt = pad([tgt_ids[i] for i in idx], PAD).to(self.device, non_blocking=True)
            yield Batch((src, tgt), sum(self.train_lens[1][i] - 1 for i in idx))

    def loss(self, model: nn.Module, batch: Batch, label_smoothing: float | None = None) -> torch.Tensor:
        src, tgt = batch.tensors
        logits = model(src, tgt[:, :-1])
        smoothing = self.cfg.label_smoothing if label_smoothing is None else label_smoothing
        return F.cross_entropy(logits.flatten(0, 1), tgt[:, 1:].flatten(), ignore_index=PAD, label_smoothing=smoothing)

    @torch.no_grad()
    def token_nll(self, model: nn.Module, split: str = "val") -> float:
        """Mean negative log-likelihood per target token (no label smoothing)."""
        total, count = 0.0, 0
        src_ids, tgt_ids = self.ids[split]
        lens = ([len(x) for x in src_ids], [len(x) for x in tgt_ids])
        for idx in token_batches(*lens, self.cfg.max_tokens):
            src = pad([src_ids[i] for i in idx], PAD).to(self.device)
            tgt = pad([tgt_ids[i] for i in idx], PAD).to(self.device)
            n = int((tgt[:, 1:] != PAD).sum())
            total += self.loss(model, Batch((src, tgt), n), label_smoothing=0.0).item() * n
            count += n
        return total / count

    @torch.no_grad()
    def translate(self, model: nn.Module, sentences: list[str], beam: int = 1, desc: str = "decode") -> list[str]:
        """Detokenised translations of ``sentences``, decoded in length-sorted batches."""
        ev = self.cfg.eval
        src_ids = [e.ids + [EOS] for e in self.tokenizer.encode_batch(sentences)]
        order = sorted(range(len(src_ids)), key=lambda i: len(src_ids[i]))
        out: list[list[int]] = [[] for _ in src_ids]
        for start in tqdm(range(0, len(order), ev.batch_size), desc=desc, unit="batch", disable=None, leave=False):
            idx = order[start : start + ev.batch_size]
            src = pad([src_ids[i] for i in idx], PAD).to(self.device)
            max_len = max_output_len(src, PAD, ev.max_len_a, ev.max_len_b)
            if beam > 1:
                hyps = beam_search(model, src, BOS, EOS, max_len, beam=beam, alpha=ev.length_penalty)
            else:
                hyps = greedy_decode(model, src, BOS, EOS, max_len)
            for i, hyp in zip(idx, hyps, strict=True):
                out[i] = hyp
        return self.tokenizer.decode_batch(out)

    def score(self, hypotheses: list[str], references: list[str]) -> dict[str, Any]:
        bleu, chrf = BLEU(), CHRF()
        return {
            "bleu": bleu.corpus_score(hypotheses, [references]).score,
            "chrf": chrf.corpus_score(hypotheses, [references]).score,
            "bleu_signature": str(bleu.get_signature()),
        }

    @classmethod
    def final_metrics(cls, cfg) -> list[str]:
        ev = cfg.get("eval") or {}
        if not ev.get("beam"):
            return ["eval_loss"]
        validation = ["eval_bleu", "eval_chrf"] if ev.get("val_beam") else []
        return ["eval_loss", *validation, "bleu", "chrf", "bleu_signature", "decode_time_s", "beam"]

    def evaluate(self, model: nn.Module, final: bool = False) -> dict[str, Any]:
        """Validation loss, and BLEU/chrF of the validation set (or, when ``final``, of the test set with beam,
        beside the validation's as ``eval_bleu`` / ``eval_chrf``: time-to-target reads the validation only).

        ``eval.val_beam: 0`` skips decoding the validation set (loss only)."""
        model.eval()
        ev = self.cfg.eval
        result: dict[str, Any] = {"eval_loss": self.token_nll(model, "val")}
        if final and ev.beam:
            if ev.val_beam:
                val = self.decoded(model, "val", ev.val_beam)
                result.update(eval_bleu=val["bleu"], eval_chrf=val["chrf"])
            result.update(self.decoded(model, "test", ev.beam))
        elif not final and ev.val_beam:  # val_beam: 0 = validation loss only (no decoding during training)
            result.update(self.decoded(model, "val", ev.val_beam))
        model.train()
        return result

    def decoded(self, model: nn.Module, split: str, beam: int) -> dict[str, Any]:
        """BLEU, chrF and the sacreBLEU signature of ``split`` translated with ``beam``, and the decoding time."""
        src, refs = self.data[split]
        start = time.perf_counter()
        hyps = self.translate(model, src, beam=beam, desc=f"{split} beam={beam}")
        return {**self.score(hyps, refs), "decode_time_s": time.perf_counter() - start, "beam": beam}
