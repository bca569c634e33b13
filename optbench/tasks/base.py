"""The Task protocol: one object owning data, model, loss and evaluation (AlgoPerf's "workload").

The runner only sees this interface; the optimizer only sees parameters and gradients.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig
from torch import Tensor, nn

from optbench.ranking import higher_is_better


@dataclass
class Batch:
    """Tensors for one training step, and how many throughput units (examples or target tokens) it holds."""

    tensors: tuple[Tensor, ...]
    size: int


class Task(ABC):
    """Base class for benchmark problems. Subclasses set ``unit`` and ``metric`` and implement the methods."""

    unit: str = "examples"  # throughput unit: "examples" or "tokens"
    metric: str = "accuracy"  # headline eval metric
    higher_is_better: bool = True  # the default for a task config without ``higher_is_better``

    def __init__(
        self, cfg: DictConfig, data_root: str | None, device: torch.device, seed: int, cache_dir: str | None = None
    ) -> None:
        self.cfg = cfg
        self.data_root = Path(data_root).expanduser() if data_root else None
        self.cache_dir = Path(cache_dir).expanduser() if cache_dir else None  # derived files, e.g. tokenizers
        self.device = device
        self.seed = seed
        self.higher_is_better = higher_is_better(cfg)  # the config's declaration wins over the class default

    @classmethod
    def check_config(cls, cfg: DictConfig) -> None:
        """Raise OptbenchError on a bad task-specific setting (called before anything is loaded or trained)."""
        return None  # most tasks need no checks beyond the runner's

    @classmethod
    def final_metrics(cls, cfg: DictConfig) -> list[str] | None:
        """The keys ``evaluate(final=True)`` returns under ``cfg`` (each is recorded as the summary's
        ``final_<key>``, what ``tune_metric`` may name); None when the task does not say, and then ``tune_metric``
        is not checked before training."""
        return None

    @abstractmethod
    def load(self) -> None:
        """Read and check the data; raise OptbenchError on a missing or malformed source. Called before training."""

    @abstractmethod
    def build_model(self) -> nn.Module:
        """A freshly initialised model (the runner moves it to the device after seeding)."""

    @abstractmethod
    def steps_per_epoch(self) -> int: ...

    @abstractmethod
    def train_batches(self, epoch: int) -> Iterator[Batch]:
        """One epoch of training batches, shuffled by a generator seeded from (seed, epoch)."""

    @abstractmethod
    def loss(self, model: nn.Module, batch: Batch) -> Tensor:
        """Scalar training loss of ``model`` on ``batch``."""

    @abstractmethod
    def evaluate(self, model: nn.Module, final: bool = False) -> dict[str, Any]:
        """Held-out metrics, e.g. {"eval_loss": ..., "accuracy": ...}; ``final`` marks the end-of-training eval."""

    def describe_batching(self) -> str:
        """How the training split is cut into batches, for the error when it gives none (e.g. a batch size larger
        than the split)."""
        return f"task.batch_size={self.cfg.get('batch_size')!r}"

    def train_record(self, model: nn.Module) -> dict[str, float]:
        """Extra values stored with each logged train row (e.g. a 2-D task's position); none by default."""
        return {}

    def epoch_generator(self, epoch: int) -> torch.Generator:
        """A CPU generator seeded from the run seed and the epoch, so shuffling is reproducible per epoch."""
        return torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
