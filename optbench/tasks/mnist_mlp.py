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


def held_out_size(val_size: int | float, n: int) -> int:
    """How many of ``n`` training examples ``task.val_size`` holds out: a count, or a fraction below 1."""
    count = round(val_size * n) if isinstance(val_size, float) and val_size < 1 else int(val_size)
    if count < 0 or count >= n:
        raise OptbenchError(
            f"task.val_size={val_size} holds out {count} of the {n} training examples; it must leave some to train "
            f"on: a count from 0 to {n - 1}, or a fraction below 1 (0: no validation split)."
        )
    return count


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
        train_y = torch.from_numpy(arrays["train_y"]).long()
        n_val = held_out_size(self.cfg.get("val_size") or 0, len(train_y))
        n_train = len(train_y) - n_val  # the validation split is the last n_val training examples
        mean, std = train_x[:n_train].mean(), train_x[:n_train].std()  # standardise with train statistics
        train_x = train_x.sub_(mean).div_(std).flatten(1)
        self.train_x, self.train_y = train_x[:n_train].to(self.device), train_y[:n_train].to(self.device)
        self.val_x, self.val_y = train_x[n_train:].to(self.device), train_y[n_train:].to(self.device)
        self.test_x = (torch.from_numpy(arrays["test_x"]).float().div_(255.0) - mean).div_(std).flatten(1)
        self.test_x = self.test_x.to(self.device)
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
    def scores(self, model: nn.Module, xs: torch.Tensor, ys: torch.Tensor) -> tuple[float, float]:
        """(mean cross-entropy, accuracy) of ``model`` on one split."""
        loss_sum = torch.zeros((), device=self.device)
        correct = torch.zeros((), device=self.device, dtype=torch.long)
        for x, y in zip(xs.split(1000), ys.split(1000), strict=True):
            logits = model(x)
            loss_sum += F.cross_entropy(logits, y, reduction="sum")
            correct += (logits.argmax(1) == y).sum()
        return loss_sum.item() / len(ys), correct.item() / len(ys)

    @classmethod
    def final_metrics(cls, cfg) -> list[str]:
        held_out = ["eval_accuracy", "test_loss"] if cfg.get("val_size") else []
        return ["eval_loss", "accuracy", *held_out]

    def evaluate(self, model: nn.Module, final: bool = False) -> dict[str, Any]:
        """The test split's loss and accuracy (DeepOBS). With ``task.val_size`` > 0, the validation split's during
        training; at the end, the test split's accuracy as the headline and the validation loss as ``eval_loss``
        (what a tuner picks by), as the language-modelling task reports them."""
        model.eval()
        if len(self.val_y) == 0:
            loss, accuracy = self.scores(model, self.test_x, self.test_y)
            result: dict[str, Any] = {"eval_loss": loss, "accuracy": accuracy}
        else:
            loss, accuracy = self.scores(model, self.val_x, self.val_y)
            result = {"eval_loss": loss, "accuracy": accuracy}
            if final:
                test_loss, test_accuracy = self.scores(model, self.test_x, self.test_y)
                result = {"eval_loss": loss, "eval_accuracy": accuracy, "test_loss": test_loss}
                result["accuracy"] = test_accuracy
        model.train()
        return result
