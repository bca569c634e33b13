"""Build an optimizer from its config node (one YAML file per optimizer in conf/optimizer/).

A config names its class with ``_target_`` (torch.optim.* or optbench.optim.*); every other key except ``name`` is
passed to the constructor. Values are checked here first so that a bad one stops the run with one paragraph that
names the key, the value and what would be valid.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch
from omegaconf import DictConfig, OmegaConf

from optbench.errors import OptbenchError
from optbench.imports import locate
from optbench.optim._steps import supports_fused
from optbench.paths import config_dir
from optbench.values import is_number

NON_CONSTRUCTOR_KEYS = ("name", "_target_")


def available_optimizers() -> list[str]:
    """Names of the optimizer configs: the files in conf/optimizer/."""
    return sorted(p.stem for p in (config_dir() / "optimizer").glob("*.yaml"))


def load_optimizer_config(name: str) -> DictConfig:
    """conf/optimizer/<name>.yaml with its stand-alone defaults: an lr that reads a task's tuned value falls back
    to the optimizer's own default, since there is no task."""
    cfg = OmegaConf.load(config_dir() / "optimizer" / f"{name}.yaml")
    resolved = OmegaConf.to_container(OmegaConf.create({"task": {}, "optimizer": cfg}), resolve=True)
    return OmegaConf.create(resolved["optimizer"])


def _in_unit_interval(value: Any) -> bool:
    return is_number(value) and 0.0 <= value < 1.0


def _check(name: str, key: str, value: Any, ok: bool, valid: str) -> None:
    if not ok:
        raise OptbenchError(
            f"optimizer.{key}={value!r} is not valid for optimizer '{name}': {valid}. "
            f"Fix it on the command line, e.g. `optimizer.{key}=...`, or in conf/optimizer/{name}.yaml."
        )


def validate_optimizer_config(cfg: DictConfig | dict) -> None:
    """Check the hyperparameters every optimizer shares names for; raise OptbenchError on the first bad one."""
    c = OmegaConf.to_container(cfg, resolve=True) if isinstance(cfg, DictConfig) else dict(cfg)
    name = c.get("name", "?")
    optimizer_class(c.get("_target_"))
    lr = c.get("lr")
    _check(name, "lr", lr, is_number(lr) and lr > 0, "the learning rate must be a finite number > 0")
    if "betas" in c:
        betas = c["betas"]
        ok = isinstance(betas, (list, tuple)) and len(betas) == 2 and all(map(_in_unit_interval, betas))
        _check(name, "betas", betas, ok, "betas must be two numbers, each in [0, 1)")
    for key in ("beta1", "beta2"):
        if c.get(key) is not None:
            _check(name, key, c[key], _in_unit_interval(c[key]), f"{key} must be in [0, 1) or null")
    if "eps" in c:
        eps = c["eps"]
        if isinstance(eps, (list, tuple)):  # Adafactor's (eps1, eps2): eps1 regularises G^2, eps2 floors RMS(X)
            ok = len(eps) == 2 and all(is_number(e) for e in eps) and eps[0] > 0 and eps[1] >= 0
            _check(name, "eps", eps, ok, "eps must be [eps1, eps2] with eps1 > 0 and eps2 >= 0")
        else:
            _check(name, "eps", eps, is_number(eps) and eps > 0, "eps must be a number > 0 (eps=0 gives 0/0)")
    if "momentum" in c:
        _check(name, "momentum", c["momentum"], _in_unit_interval(c["momentum"]), "momentum must be in [0, 1)")
    if "alpha" in c:
        _check(name, "alpha", c["alpha"], _in_unit_interval(c["alpha"]), "alpha must be in [0, 1)")
    if "weight_decay" in c:
        wd = c["weight_decay"]
        _check(name, "weight_decay", wd, is_number(wd) and wd >= 0, "weight_decay must be a finite number >= 0")
    if "fused" in c:
        ok = c["fused"] is None or isinstance(c["fused"], bool) or c["fused"] == "auto"
        _check(name, "fused", c["fused"], ok, "fused must be auto, true, false or null")


def optimizer_class(target: Any) -> type:
    """The class an optimizer config's ``_target_`` names; OptbenchError when it does not import."""
    try:
        cls = locate(target)
    except ImportError as exc:
        raise OptbenchError(
            f"optimizer._target_={target!r} cannot be imported ({exc}). Use a torch.optim "
            f"class such as torch.optim.Adam, one of optbench.optim.Adafactor / optbench.optim.AdaX, or your own "
            f"torch.optim.Optimizer subclass importable from where optbench runs."
        ) from None
    if not (isinstance(cls, type) and issubclass(cls, torch.optim.Optimizer)):
        raise OptbenchError(f"optimizer._target_={target!r} is not a torch.optim.Optimizer subclass.")
    return cls


def resolve_fused(value: Any, cls: type, params: list[torch.Tensor]) -> bool | None:
    """``fused: auto`` -> for torch.optim classes, torch's fused kernel where it runs (see ``supports_fused``),
    otherwise their default implementation; optbench's own optimizers choose per tensor themselves (None)."""
    if value != "auto":
        return value
    if cls.__module__.startswith("optbench."):
        return None
    return True if supports_fused(params) else None


def build_optimizer(cfg: DictConfig | dict, params: Iterable[torch.Tensor]) -> torch.optim.Optimizer:
    """Validate ``cfg`` and construct the optimizer over ``params``."""
    validate_optimizer_config(cfg)
    params = list(params)
    c = OmegaConf.to_container(cfg, resolve=True) if isinstance(cfg, DictConfig) else dict(cfg)
    target = c.get("_target_")
    cls = optimizer_class(target)
    kwargs = {k: v for k, v in c.items() if k not in NON_CONSTRUCTOR_KEYS}
    for key in ("betas", "eps"):
        if isinstance(kwargs.get(key), list):
            kwargs[key] = tuple(kwargs[key])
    if "fused" in kwargs:
        kwargs["fused"] = resolve_fused(kwargs["fused"], cls, params)
    try:
        return cls(params, **kwargs)
    except (TypeError, ValueError) as exc:
        raise OptbenchError(
            f"optimizer '{c.get('name')}' ({target}) rejected its configuration: {exc}. "
            f"Valid keys are those of {target}'s constructor; see conf/optimizer/{c.get('name')}.yaml."
        ) from None
