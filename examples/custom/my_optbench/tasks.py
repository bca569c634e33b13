"""Least squares on synthetic data: a task scored by test MSE, where lower is better."""

import torch
import torch.nn.functional as F
from torch import nn

from optbench.tasks import Batch, Task


class LinearRegression(Task):
    unit = "examples"
    metric = "test_mse"
    higher_is_better = False

    def load(self) -> None:
        g = torch.Generator().manual_seed(1234)  # the data is fixed; the run's seed drives init and shuffling
        n, d = self.cfg.n_train + self.cfg.n_test, self.cfg.dim
        x = torch.randn(n, d, generator=g)
        y = x @ torch.randn(d, 1, generator=g) + self.cfg.noise * torch.randn(n, 1, generator=g)
        self.train_x, self.test_x = x[: self.cfg.n_train], x[self.cfg.n_train :]
        self.train_y, self.test_y = y[: self.cfg.n_train], y[self.cfg.n_train :]

    def build_model(self) -> nn.Module:
        return nn.Linear(self.cfg.dim, 1)

    def steps_per_epoch(self) -> int:
        return len(self.train_x) // self.cfg.batch_size

    def train_batches(self, epoch: int):
        order = torch.randperm(len(self.train_x), generator=self.epoch_generator(epoch))
        bs = self.cfg.batch_size
        for i in range(self.steps_per_epoch()):
            idx = order[i * bs : (i + 1) * bs]
            yield Batch((self.train_x[idx].to(self.device), self.train_y[idx].to(self.device)), bs)

    def loss(self, model: nn.Module, batch: Batch) -> torch.Tensor:
        x, y = batch.tensors
        return F.mse_loss(model(x), y)

    @torch.no_grad()
    def evaluate(self, model: nn.Module, final: bool = False) -> dict:
        mse = F.mse_loss(model(self.test_x.to(self.device)), self.test_y.to(self.device)).item()
        return {"test_mse": mse}
