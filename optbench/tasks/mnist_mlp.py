"""MNIST MLP (DeepOBS mnist_mlp): 784-1000-500-100-10 ReLU network, softmax cross-entropy, batch 128."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from optbench.errors import OptbenchError
from optbench.tasks.base import Batch, Task
from optbench.tasks.idx import load_hub, load_idx_dir


def mlp(sizes: list[int]) -> nn.Sequential:
    layers: list[nn.Module] = [nn.Flatten()]
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        layers.append(nn.Linear(n_in, n_out))
        if i < len(sizes) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


def check_labels(arrays: dict[str, np.ndarray]) -> None:
    """Both splits non-empty; labels are class indices 0..K-1 with K taken from the training split."""
    for split in ("train", "test"):
        if len(arrays[f"{split}_y"]) == 0:
            raise OptbenchError(f"the {split} split of the IDX data is empty: it holds no examples.")
    n_classes = int(arrays["train_y"].max()) + 1
    for split in ("train", "test"):
        labels = arrays[f"{split}_y"]
        bad = labels[(labels < 0) | (labels >= n_classes)]
        if len(bad):
            raise OptbenchError(
                f"the {split} labels hold {int(bad[0])}, outside the class range 0..{n_classes - 1} that the "
                f"training labels define; every label must be a class index in that range."
            )


class MnistMLP(Task):
    """Any IDX image-classification set works the same (Fashion-MNIST, KMNIST): point task.data_dir at it."""

    unit = "examples"
    metric = "accuracy"

    def load(self) -> None:
        if self.cfg.data_dir is not None:
            arrays = load_idx_dir(Path(self.cfg.data_dir).expanduser())
        elif self.data_root is not None:
            arrays = load_idx_dir(self.data_root / "mnist")
        else:
            arrays = load_hub(self.cfg.hub_id)
        check_labels(arrays)
        train_x = torch.from_numpy(arrays["train_x"]).float().div_(255.0)
        mean, std = train_x.mean(), train_x.std()  # standardise with train statistics
        self.train_x = train_x.sub_(mean).div_(std).flatten(1).to(self.device)
        self.test_x = (torch.from_numpy(arrays["test_x"]).float().div_(255.0) - mean).div_(std).flatten(1)
        self.test_x = self.test_x.to(self.device)
        self.train_y = torch.from_numpy(arrays["train_y"]).long().to(self.device)
        self.test_y = torch.from_numpy(arrays["test_y"]).long().to(self.device)
        self.n_classes = int(self.train_y.max()) + 1

    def build_model(self) -> nn.Module:
        return mlp([self.train_x.shape[1], *self.cfg.hidden, self.n_classes])

    def describe_batching(self) -> str:
        return f"task.batch_size={self.cfg.batch_size}, {len(self.train_x)} training examples"

    def steps_per_epoch(self) -> int:
        return len(self.train_x) // self.cfg.batch_size  # drop the last partial batch

    def train_batches(self, epoch: int) -> Iterator[Batch]:
        bs = self.cfg.batch_size
        order = torch.randperm(len(self.train_x), generator=self.epoch_generator(epoch)).to(self.device)
        for i in range(self.steps_per_epoch()):
            idx = order[i * bs : (i + 1) * bs]
            yield Batch((self.train_x[idx], self.train_y[idx]), bs)

    def loss(self, model: nn.Module, batch: Batch) -> torch.Tensor:
        x, y = batch.tensors
        return F.cross_entropy(model(x), y)

    @torch.no_grad()
    def evaluate(self, model: nn.Module, final: bool = False) -> dict[str, Any]:
        model.eval()
        loss_sum = torch.zeros((), device=self.device)
        correct = torch.zeros((), device=self.device, dtype=torch.long)
        for x, y in zip(self.test_x.split(1000), self.test_y.split(1000), strict=True):
            logits = model(x)
            loss_sum += F.cross_entropy(logits, y, reduction="sum")
            correct += (logits.argmax(1) == y).sum()
        model.train()
        n = len(self.test_y)
        return {"eval_loss": loss_sum.item() / n, "accuracy": correct.item() / n}
