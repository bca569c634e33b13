"""Language modelling: a GPT-style decoder on a text corpus split by whole works (Shakespeare by default).

Each split is one token stream (works joined by an end-of-text token). An epoch cuts the training stream into
windows of ``context`` + 1 tokens from a random offset, shuffled and batched; throughput counts predicted tokens.
Evaluation is the mean negative log-likelihood per token (nats) over non-overlapping windows of the validation
stream (the first ``eval_tokens`` tokens), with its perplexity; the final evaluation adds the test split. Lower is
better.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from optbench.errors import OptbenchError
from optbench.tasks.base import Batch, Task
from optbench.tasks.gpt import GPT
from optbench.tasks.subwords import END_OF_TEXT, load_or_train_tokenizer
from optbench.tasks.text_corpus import load_corpus


class LanguageModel(Task):
    unit = "tokens"
    metric = "loss"  # nats per token on held-out text
    higher_is_better = False

    @classmethod
    def check_config(cls, cfg) -> None:
        for key in ("context", "vocab_size"):
            value = cfg.get(key)
            if isinstance(value, bool) or not isinstance(value, int) or value < 2:
                raise OptbenchError(f"task.{key}={value!r} must be an integer >= 2.")
        model = cfg.model
        if model.d_model % model.heads or (model.d_model // model.heads) % 2:
            raise OptbenchError(
                f"task.model.d_model={model.d_model} must split into task.model.heads={model.heads} heads of an even "
                f"size (rotary embeddings turn feature pairs), e.g. d_model=256, heads=4."
            )
        tokens = cfg.get("eval_tokens")
        if tokens is not None and (isinstance(tokens, bool) or not isinstance(tokens, int) or tokens <= cfg.context):
            raise OptbenchError(f"task.eval_tokens={tokens!r} must be an integer > task.context, or null (all).")

    def load(self) -> None:
        cfg = self.cfg
        texts = load_corpus(cfg, self.data_root)
        if cfg.get("train_chars"):
            texts["train"] = [t[: cfg.train_chars] for t in texts["train"]]
        self.tokenizer = load_or_train_tokenizer(texts["train"], cfg.vocab_size, self.cache_dir, byte_level=True)
        self.eot = self.tokenizer.token_to_id(END_OF_TEXT)
        self.streams = {split: self._encode(texts[split]) for split in ("train", "val", "test")}
        for split in ("val", "test"):
            if cfg.get("eval_tokens"):
                self.streams[split] = self.streams[split][: cfg.eval_tokens + 1]
            if len(self.streams[split]) <= cfg.context:
                raise OptbenchError(
                    f"the {split} split has {len(self.streams[split])} tokens, fewer than one window of "
                    f"task.context={cfg.context} + 1; hold out longer works or lower the context."
                )
        self.unigram = {split: self.unigram_loss(split) for split in ("val", "test")}  # on the scored tokens

    def _encode(self, texts: list[str]) -> Tensor:
        ids: list[int] = []
        for encoding in self.tokenizer.encode_batch(texts):
            ids += encoding.ids + [self.eot]
        return torch.tensor(ids, dtype=torch.long)

    def unigram_loss(self, split: str) -> float:
        """The loss (nats/token) of the training split's token frequencies (add-one smoothed) on ``split``: the
        baseline a model must beat by learning context."""
        vocab = self.tokenizer.get_vocab_size()
        counts = torch.bincount(self.streams["train"], minlength=vocab).double() + 1.0
        log_p = (counts / counts.sum()).log()
        return float(-log_p[self.streams[split][1:]].mean())

    def build_model(self) -> nn.Module:
        return GPT(self.tokenizer.get_vocab_size(), self.cfg.context, **self.cfg.model)

    def _windows(self) -> int:
        return (len(self.streams["train"]) - self.cfg.context) // self.cfg.context

    def describe_batching(self) -> str:
        return (
            f"{len(self.streams['train'])} training tokens, {self._windows()} windows of task.context="
            f"{self.cfg.context}, task.batch_size={self.cfg.batch_size}"
        )

    def steps_per_epoch(self) -> int:
        return self._windows() // self.cfg.batch_size

    def train_batches(self, epoch: int) -> Iterator[Batch]:
        context, size = self.cfg.context, self.cfg.batch_size
        gen = self.epoch_generator(epoch)
        offset = int(torch.randint(context, (1,), generator=gen))
        starts = offset + context * torch.randperm(self._windows(), generator=gen)
        stream = self.streams["train"]
        span = torch.arange(context + 1)
        for i in range(self.steps_per_epoch()):
            windows = stream[starts[i * size : (i + 1) * size, None] + span]
            yield Batch((windows.to(self.device, non_blocking=True),), size * context)

    def loss(self, model: nn.Module, batch: Batch) -> Tensor:
        (windows,) = batch.tensors
        logits = model(windows[:, :-1])
        return F.cross_entropy(logits.flatten(0, 1).float(), windows[:, 1:].flatten())

    @torch.no_grad()
    def nll(self, model: nn.Module, split: str) -> float:
        """Mean negative log-likelihood per token (nats) over non-overlapping windows of the split's stream."""
        context, stream = self.cfg.context, self.streams[split]
        n = (len(stream) - 1) // context
        windows = stream[: n * context + 1]
        inputs, targets = windows[:-1].view(n, context), windows[1:].view(n, context)
        total = 0.0
        for i in range(0, n, self.cfg.eval_batch_size):
            x = inputs[i : i + self.cfg.eval_batch_size].to(self.device)
            y = targets[i : i + self.cfg.eval_batch_size].to(self.device)
            total += float(F.cross_entropy(model(x).flatten(0, 1).float(), y.flatten(), reduction="sum"))
        return total / (n * context)

    @classmethod
    def final_metrics(cls, cfg) -> list[str]:
        return ["loss", "perplexity", "eval_loss", "eval_perplexity", "unigram_loss"]

    def evaluate(self, model: nn.Module, final: bool = False) -> dict[str, Any]:
        """Validation loss and perplexity (the headline ``loss``); at the end, the test split's as the headline and
        the validation's as ``eval_loss``."""
        model.eval()
        val = self.nll(model, "val")
        result: dict[str, Any] = {"loss": val, "perplexity": math.exp(min(val, 700.0))}
        if final:
            test = self.nll(model, "test")
            result = {
                "loss": test,
                "perplexity": math.exp(min(test, 700.0)),
                "eval_loss": val,
                "eval_perplexity": math.exp(min(val, 700.0)),
                "unigram_loss": self.unigram["test"],
            }
        model.train()
        return result
