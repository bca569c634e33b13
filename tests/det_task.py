"""A deterministic float64 task for exact comparisons: linear regression, batches in a fixed order (no shuffling)."""

from __future__ import annotations

import os

import torch
from torch import nn

from optbench.tasks.base import Batch, Task
from optbench.tasks.functions2d import Function2D


class DeterministicRegression(Task):
    unit = "examples"
    metric = "test_mse"
    higher_is_better = False

    def load(self) -> None:
        g = torch.Generator().manual_seed(0)
        n, d = int(self.cfg.n_train), int(self.cfg.dim)
        self.x = torch.randn(n, d, generator=g, dtype=torch.float64)
        w = torch.randn(d, 1, generator=g, dtype=torch.float64)
        self.y = torch.tanh(self.x @ w) + 0.1 * torch.randn(n, 1, generator=g, dtype=torch.float64)

    def build_model(self) -> nn.Module:
        torch.manual_seed(0)
        return nn.Sequential(nn.Linear(self.cfg.dim, 8), nn.Tanh(), nn.Linear(8, 1)).double()

    def steps_per_epoch(self) -> int:
        return len(self.x) // self.cfg.batch_size

    def train_batches(self, epoch: int):
        b = self.cfg.batch_size
        for i in range(self.steps_per_epoch()):
            yield Batch((self.x[i * b : (i + 1) * b], self.y[i * b : (i + 1) * b]), b)

    def loss(self, model: nn.Module, batch: Batch) -> torch.Tensor:
        x, y = batch.tensors
        loss = ((model(x) - y) ** 2).mean()
        self.calls = getattr(self, "calls", 0) + 1
        nan_rank = self.cfg.get("nan_on_rank")  # fault injection: this rank's loss turns NaN at its 3rd batch
        if nan_rank is not None and os.environ.get("RANK") == str(nan_rank) and self.calls >= 3:
            return loss * float("nan")
        return loss

    def evaluate(self, model: nn.Module, final: bool = False) -> dict:
        with torch.no_grad():
            return {"test_mse": float(((model(self.x) - self.y) ** 2).mean())}


def config(batch_size: int, n_train: int = 96, epochs: int = 2):
    """The task config that runs DeterministicRegression."""
    from omegaconf import OmegaConf

    return OmegaConf.create(
        {
            "_target_": "tests.det_task.DeterministicRegression",
            "name": "det_regression",
            "dim": 6,
            "n_train": n_train,
            "batch_size": batch_size,
            "epochs": epochs,
            "log_every": 1,
            "higher_is_better": False,
            "warmup_steps": 0,
            "max_loss_factor": None,
        }
    )


class FailingFunction(Function2D):
    """A 2-D function whose training fails at its first step when ``task.fail`` is true: a run that fails (not one that
    diverges), for the sweep tests."""

    def loss(self, model: nn.Module, batch: Batch) -> torch.Tensor:
        if self.cfg.get("fail"):
            raise RuntimeError("injected failure")
        return super().loss(model, batch)
