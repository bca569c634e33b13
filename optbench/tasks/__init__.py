"""Benchmark tasks. A task config (conf/task/*.yaml) names its class with ``_target_``."""

from __future__ import annotations

import torch
from omegaconf import DictConfig

from optbench.imports import locate
from optbench.tasks.base import Batch, Task


def build_task(
    cfg: DictConfig, data_root: str | None, device: torch.device, seed: int, cache_dir: str | None = None
) -> Task:
    cls = locate(cfg._target_)
    return cls(cfg, data_root, device, seed, cache_dir)


__all__ = ["Batch", "Task", "build_task"]
