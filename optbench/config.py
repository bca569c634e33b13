"""Checks on a composed config that must pass before any data is read or any record is written."""

from __future__ import annotations

import torch
from omegaconf import DictConfig

from optbench.errors import OptbenchError
from optbench.optim.factory import validate_optimizer_config
from optbench.schedules import schedule_factor


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise OptbenchError(f"device={name!r} is not a device; use auto, cpu, cuda or cuda:N.") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise OptbenchError(f"device={name!r} was asked for but CUDA is not available here; use device=cpu or auto.")
    if device.type not in ("cpu", "cuda"):
        raise OptbenchError(f"device={name!r} is not supported; use auto, cpu, cuda or cuda:N.")
    return device


def validate(cfg: DictConfig) -> None:
    """Raise OptbenchError (one paragraph: bad value, valid choices) on the first bad setting."""
    validate_optimizer_config(cfg.optimizer)
    resolve_device(cfg.device)
    if not isinstance(cfg.seed, int) or cfg.seed < 0:
        raise OptbenchError(f"seed={cfg.seed!r} must be a non-negative integer.")
    if cfg.threads is not None and (not isinstance(cfg.threads, int) or cfg.threads < 1):
        raise OptbenchError(f"threads={cfg.threads!r} must be a positive integer or null (torch's default).")
    for key in ("batch_size", "epochs"):
        value = cfg.task.get(key)
        if value is not None and (not isinstance(value, int) or value < 1):
            raise OptbenchError(f"task.{key}={value!r} must be a positive integer.")
    max_steps = cfg.task.get("max_steps")
    if max_steps is not None and (not isinstance(max_steps, int) or max_steps < 1):
        raise OptbenchError(f"task.max_steps={max_steps!r} must be a positive integer or null (use task.epochs).")
    schedule_factor(cfg.schedule, total_steps=1)
