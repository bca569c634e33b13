"""Checks on a composed config that must pass before any data is read or any record is written.

Each check raises OptbenchError with one paragraph: the key, the bad value, and what would be valid. No numeric
setting accepts a boolean (see optbench/values.py).
"""

from __future__ import annotations

import re
from typing import Any

import torch
from omegaconf import DictConfig, OmegaConf

from optbench import distributed
from optbench.debugging import validate as validate_debug
from optbench.errors import OptbenchError
from optbench.imports import locate
from optbench.optim.factory import validate_optimizer_config, validate_wrapper
from optbench.precision import resolve_precision
from optbench.schedules import schedule_factor
from optbench.values import is_int, is_number

# A name that becomes part of a path (run ids, result folders): letters, digits, '_', '-', '.', not starting with
# a dot, so it can never climb out of the store or hide a file.
NAME_PATTERN = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,79}")
MAX_TAG_LENGTH = 64  # W&B's limit on a tag


def check_name(key: str, value: Any) -> None:
    """``value`` is safe as a file or folder name (see NAME_PATTERN)."""
    if not isinstance(value, str) or not NAME_PATTERN.fullmatch(value):
        raise OptbenchError(
            f"{key}={value!r} is not a valid name: it becomes part of file paths, so use 1 to 80 letters, digits, "
            f"'_', '-' or '.', not starting with '.' (no '/' or spaces)."
        )


def resolve_device(name: str) -> torch.device:
    if not isinstance(name, str):
        raise OptbenchError(f"device={name!r} is not a device; use auto, cpu, cuda or cuda:N.")
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
    if device.type == "cuda" and device.index is not None and device.index >= torch.cuda.device_count():
        raise OptbenchError(
            f"device={name!r}: this machine has {torch.cuda.device_count()} CUDA device(s), numbered from 0."
        )
    return device


def _positive_int(key: str, value: Any, *, nullable: bool, what: str = "") -> None:
    if value is None and nullable:
        return
    if not is_int(value) or value < 1:
        alternative = f" or null{what}" if nullable else ""
        raise OptbenchError(f"{key}={value!r} must be a positive integer{alternative}.")


def validate_run(cfg: DictConfig) -> None:
    """Top-level keys: seed, threads, force, save_model, sweep, tags."""
    if not is_int(cfg.seed) or cfg.seed < 0:
        raise OptbenchError(f"seed={cfg.seed!r} must be a non-negative integer, e.g. seed=0.")
    _positive_int("threads", cfg.threads, nullable=True, what=" (torch's default)")
    _positive_int("accumulate", cfg.get("accumulate", 1), nullable=False)
    for key in ("force", "save_model"):
        if not isinstance(cfg.get(key, False), bool):
            raise OptbenchError(f"{key}={cfg.get(key)!r} must be true or false.")
    if cfg.get("sweep") is not None:
        check_name("sweep", cfg.sweep)
    tags = cfg.get("tags")
    if not OmegaConf.is_list(tags) and not isinstance(tags, list):
        raise OptbenchError(f"tags={tags!r} must be a list of short strings, e.g. 'tags=[baseline,v2]'.")
    for tag in tags:
        if not isinstance(tag, str) or not tag or len(tag) > MAX_TAG_LENGTH or any(c in tag for c in ",\n"):
            raise OptbenchError(
                f"tags: {tag!r} is not a valid tag; each tag must be a non-empty string of at most "
                f"{MAX_TAG_LENGTH} characters without commas or line breaks, e.g. 'tags=[baseline,v2]'."
            )


def validate_task(task: DictConfig) -> None:
    """The task keys the runner reads: name, class, budget, logging, targets, divergence threshold."""
    check_name("task.name", task.get("name"))
    target = task.get("_target_")
    try:
        cls = locate(target)
    except ImportError as exc:
        raise OptbenchError(
            f"task._target_={target!r} cannot be imported ({exc}). It must name a Task "
            f"class, e.g. optbench.tasks.mnist_mlp.MnistMLP, importable from where optbench runs."
        ) from None
    from optbench.tasks.base import Task

    if not (isinstance(cls, type) and issubclass(cls, Task)):
        raise OptbenchError(f"task._target_={target!r} is not a subclass of optbench.tasks.Task.")
    for key in ("batch_size", "epochs"):
        if key in task:
            _positive_int(f"task.{key}", task.get(key), nullable=key == "batch_size")
    _positive_int("task.max_steps", task.get("max_steps"), nullable=True, what=" (use task.epochs)")
    _positive_int("task.log_every", task.get("log_every"), nullable=False)
    _positive_int("task.eval_every", task.get("eval_every"), nullable=True, what=" (once per epoch)")
    factor = task.get("max_loss_factor")
    if factor is not None and (not is_number(factor) or factor <= 1):
        raise OptbenchError(
            f"task.max_loss_factor={factor!r} must be a number > 1 (a run whose loss grows past this multiple of "
            f"its first loss has diverged) or null (only NaN/inf count)."
        )
    if task.get("target") is not None and not is_number(task.target):
        raise OptbenchError(f"task.target={task.target!r} must be a number (the metric's target) or null.")
    hib = task.get("higher_is_better")
    if hib is not None and not isinstance(hib, bool):
        raise OptbenchError(f"task.higher_is_better={hib!r} must be true or false (the headline metric's direction).")
    warmup = task.get("warmup_steps")
    if warmup is not None and (not is_int(warmup) or warmup < 0):
        raise OptbenchError(f"task.warmup_steps={warmup!r} must be a non-negative integer (0 = no warmup).")
    cls.check_config(task)


# Summary scores every finished run records, whatever its task.
RUN_SCORES = ("final_metric", "final_train_loss")


def validate_tune_metric(cfg: DictConfig) -> None:
    """``tune_metric`` must name a score the task's runs record (``final_metric``, ``final_train_loss`` or
    ``final_<key>`` of its final evaluation): ranking by a missing one would rank NaNs and pick at random."""
    name = cfg.get("tune_metric")
    if name is None:
        return
    cls = locate(cfg.task._target_)
    keys = cls.final_metrics(cfg.task)
    if keys is None:  # a task that does not declare its final evaluation's keys
        return
    valid = [*RUN_SCORES, *(f"final_{k}" for k in keys)]
    if name not in valid:
        raise OptbenchError(
            f"tune_metric={name!r} is not a score that runs of task {cfg.task.name} record, so a sweep could not "
            f"rank by it; choose one of: {', '.join(valid)} (final_metric is its {cls.metric})."
        )


def validate(cfg: DictConfig) -> None:
    """Raise OptbenchError (one paragraph: bad value, valid choices) on the first bad setting."""
    validate_run(cfg)
    validate_task(cfg.task)
    validate_tune_metric(cfg)
    check_name("optimizer.name", cfg.optimizer.get("name"))
    validate_optimizer_config(cfg.optimizer)
    if cfg.get("wrapper") is not None:
        validate_wrapper(cfg.wrapper)
    resolve_device(cfg.device)
    resolve_precision(cfg.get("precision", "fp32"))
    schedule_factor(cfg.schedule, total_steps=1)
    validate_debug(cfg.get("debug"))
    distributed.check(cfg)
