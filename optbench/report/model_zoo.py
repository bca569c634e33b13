"""The models the memory report projects: one YAML file each in ``conf/memory_model/``, naming a builder here.

A builder returns a ``ZooModel``: how to build the model, a training batch of the stated size, and the training
loss, so that ``optbench.projection`` can run one whole training step on fake tensors. The large language models
are ``transformers``' own implementations, built from their published configurations (no weights are loaded).
A new model is a new YAML file, with one of these builders or a new one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from hydra.utils import instantiate
from omegaconf import OmegaConf
from torch import Tensor, nn

from optbench.errors import OptbenchError
from optbench.paths import config_dir


@dataclass
class ZooModel:
    name: str
    label: str
    build: Callable[[], nn.Module]
    make_batch: Callable[[], tuple[Tensor, ...]]
    loss: Callable[[nn.Module, tuple[Tensor, ...]], Tensor]
    batch: str  # the batch in words, for captions


def available_models() -> list[str]:
    return sorted(p.stem for p in (config_dir() / "memory_model").glob("*.yaml"))


def load_model(name: str) -> ZooModel:
    path = config_dir() / "memory_model" / f"{name}.yaml"
    if not path.is_file():
        raise OptbenchError(
            f"memory model {name!r} has no conf/memory_model/{name}.yaml; choose from {available_models()}."
        )
    cfg = OmegaConf.load(path)
    return instantiate(cfg, _convert_="all")


def n_parameters(model: ZooModel) -> int:
    with torch.device("meta"):
        return sum(p.numel() for p in model.build().parameters())


def _tokens(batch_size: int, length: int, vocab: int) -> Tensor:
    return torch.randint(0, vocab, (batch_size, length))


def mlp_classifier(name: str, label: str, sizes: list[int], batch_size: int) -> ZooModel:
    from optbench.tasks.mnist_mlp import mlp

    return ZooModel(
        name,
        label,
        build=lambda: mlp(sizes),
        make_batch=lambda: (torch.randn(batch_size, sizes[0]), torch.randint(0, sizes[-1], (batch_size,))),
        loss=lambda model, batch: F.cross_entropy(model(batch[0]), batch[1]),
        batch=f"{batch_size} examples",
    )


def seq2seq_transformer(
    name: str, label: str, vocab_size: int, model: dict[str, Any], batch_size: int, src_len: int, tgt_len: int
) -> ZooModel:
    """optbench's own encoder-decoder (the MT task's model), label-smoothed cross-entropy as the task trains it."""
    from optbench.tasks.transformer import Seq2SeqTransformer

    def loss(net: nn.Module, batch: tuple[Tensor, ...]) -> Tensor:
        src, tgt = batch
        logits = net(src, tgt[:, :-1])
        return F.cross_entropy(logits.flatten(0, 1), tgt[:, 1:].flatten(), ignore_index=0, label_smoothing=0.1)

    return ZooModel(
        name,
        label,
        build=lambda: Seq2SeqTransformer(vocab_size, 0, **model),
        make_batch=lambda: (_tokens(batch_size, src_len, vocab_size), _tokens(batch_size, tgt_len + 1, vocab_size)),
        loss=loss,
        batch=f"{batch_size} x ({src_len} source + {tgt_len} target) tokens",
    )


def gpt_decoder(
    name: str, label: str, vocab_size: int, context: int, model: dict[str, Any], batch_size: int
) -> ZooModel:
    """optbench's own decoder-only GPT (the LM task's model), next-token loss on ``batch_size`` x ``context``."""
    from optbench.tasks.gpt import GPT

    def loss(net: nn.Module, batch: tuple[Tensor, ...]) -> Tensor:
        (windows,) = batch
        return F.cross_entropy(net(windows[:, :-1]).flatten(0, 1), windows[:, 1:].flatten())

    return ZooModel(
        name,
        label,
        build=lambda: GPT(vocab_size, context, **model),
        make_batch=lambda: (_tokens(batch_size, context + 1, vocab_size),),
        loss=loss,
        batch=f"{batch_size} x {context} tokens",
    )


def _hf_builder(auto_class: str, model_type: str, config: dict[str, Any]) -> Callable[[], nn.Module]:
    """Builds ``transformers.<auto_class>`` from ``model_type``'s configuration with ``config`` set, no weights."""

    def build() -> nn.Module:
        import transformers
        from transformers.utils import logging

        logging.set_verbosity_error()  # its notes on building without weights are not for the report's reader
        return getattr(transformers, auto_class).from_config(transformers.AutoConfig.for_model(model_type, **config))

    return build


def hf_causal_lm(
    name: str, label: str, model_type: str, config: dict[str, Any], batch_size: int, seq_len: int
) -> ZooModel:
    """A ``transformers`` decoder-only language model, next-token loss on ``batch_size`` x ``seq_len`` tokens."""
    vocab = int(config["vocab_size"])
    return ZooModel(
        name,
        label,
        build=_hf_builder("AutoModelForCausalLM", model_type, config),
        make_batch=lambda: (_tokens(batch_size, seq_len, vocab),),
        loss=lambda model, batch: model(input_ids=batch[0], labels=batch[0]).loss,
        batch=f"{batch_size} x {seq_len} tokens",
    )


def hf_seq2seq_lm(
    name: str, label: str, model_type: str, config: dict[str, Any], batch_size: int, src_len: int, tgt_len: int
) -> ZooModel:
    """A ``transformers`` encoder-decoder, cross-entropy on ``tgt_len`` target tokens per example."""
    vocab = int(config["vocab_size"])
    return ZooModel(
        name,
        label,
        build=_hf_builder("AutoModelForSeq2SeqLM", model_type, config),
        make_batch=lambda: (_tokens(batch_size, src_len, vocab), _tokens(batch_size, tgt_len, vocab)),
        loss=lambda model, batch: model(input_ids=batch[0], labels=batch[1]).loss,
        batch=f"{batch_size} x ({src_len} input + {tgt_len} target) tokens",
    )
