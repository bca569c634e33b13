"""Two-dimensional test functions (Rosenbrock, Rastrigin, Beale) as tasks: the parameters are one 2-vector, the
loss is the function, and every logged train row carries the point (x, y) after that step, so the store holds the
optimizer's path. The eval metric is the final function value (lower is better).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import torch
from omegaconf import OmegaConf
from torch import Tensor, nn

from optbench.errors import OptbenchError
from optbench.tasks.base import Batch, Task
from optbench.values import is_number


def _shown(value: Any) -> Any:
    return OmegaConf.to_container(value) if OmegaConf.is_config(value) else value


def rosenbrock(p: Tensor, a: float = 1.0, b: float = 100.0) -> Tensor:
    x, y = p[..., 0], p[..., 1]
    return (a - x) ** 2 + b * (y - x**2) ** 2


def rastrigin(p: Tensor, A: float = 10.0) -> Tensor:
    return A * p.shape[-1] + (p**2 - A * torch.cos(2 * math.pi * p)).sum(-1)


def beale(p: Tensor) -> Tensor:
    x, y = p[..., 0], p[..., 1]
    return (1.5 - x + x * y) ** 2 + (2.25 - x + x * y**2) ** 2 + (2.625 - x + x * y**3) ** 2


FUNCTIONS = {"rosenbrock": rosenbrock, "rastrigin": rastrigin, "beale": beale}


class Point(nn.Module):
    def __init__(self, start: list[float]) -> None:
        super().__init__()
        self.xy = nn.Parameter(torch.tensor(start, dtype=torch.float32))


class Function2D(Task):
    unit = "examples"
    metric = "final_value"
    higher_is_better = False

    def value(self, p: Tensor) -> Tensor:
        return FUNCTIONS[self.cfg.function](p, **self.cfg.get("params", {}))

    def load(self) -> None:
        if self.cfg.function not in FUNCTIONS:
            raise OptbenchError(f"task.function={self.cfg.function!r}: choose one of {sorted(FUNCTIONS)}.")
        for key in ("start", "minimum"):
            point = self.cfg.get(key)
            if point is None and key == "minimum":
                continue
            if not OmegaConf.is_list(point) or len(point) != 2 or not all(is_number(v) for v in point):
                raise OptbenchError(
                    f"task.{key}={_shown(point)} must be two finite numbers [x, y], e.g. task.{key}=[-2.0,2.0]."
                )
        params = dict(self.cfg.get("params") or {})
        try:
            FUNCTIONS[self.cfg.function](torch.zeros(2), **params)
        except TypeError:
            raise OptbenchError(
                f"task.params={params} does not fit {self.cfg.function}; see conf/task/{self.cfg.function}.yaml "
                f"for its parameters."
            ) from None

    def build_model(self) -> nn.Module:
        return Point(list(self.cfg.start))

    def steps_per_epoch(self) -> int:
        return self.cfg.max_steps

    def train_batches(self, epoch: int) -> Iterator[Batch]:
        for _ in range(self.steps_per_epoch()):
            yield Batch((), 1)

    def loss(self, model: nn.Module, batch: Batch) -> Tensor:
        return self.value(model.xy)

    def train_record(self, model: nn.Module) -> dict[str, float]:
        x, y = model.xy.detach().tolist()
        return {"x": x, "y": y}

    @classmethod
    def final_metrics(cls, cfg) -> list[str]:
        return ["final_value", "x", "y"]

    @torch.no_grad()
    def evaluate(self, model: nn.Module, final: bool = False) -> dict[str, Any]:
        x, y = model.xy.tolist()
        return {"final_value": float(self.value(model.xy)), "x": x, "y": y}
