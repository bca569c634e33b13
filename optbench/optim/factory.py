"""Build an optimizer from its config node (one YAML file per optimizer in conf/optimizer/).

A config names its class with ``_target_`` (torch.optim.*, optbench.optim.*, or a library's, such as
pytorch_optimizer.*); what optbench needs to know about it sits under ``about:`` (optbench/optim/about.py). Every
other key except ``name`` and the variant switches (``bias_correction``, ``weight_decay_mode``: see variants.py)
is passed to the constructor. Values are checked here first so that a bad one stops the run with one paragraph
that names the key, the value and what would be valid.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterable
from typing import Any

import torch
from omegaconf import DictConfig, OmegaConf
from torch import nn

from optbench.errors import OptbenchError
from optbench.imports import locate
from optbench.optim import variants
from optbench.optim._steps import supports_fused
from optbench.optim.about import WEIGHT_DECAY_MODES, About, read_about
from optbench.paths import config_dir
from optbench.values import is_number, plain_dict

VARIANT_KEYS = ("bias_correction", "weight_decay_mode")
NON_CONSTRUCTOR_KEYS = ("name", "_target_", "about", *VARIANT_KEYS)


def available_optimizers() -> list[str]:
    """Names of the optimizer configs: the files in conf/optimizer/."""
    return sorted(p.stem for p in (config_dir() / "optimizer").glob("*.yaml"))


def load_optimizer_config(name: str) -> DictConfig:
    """conf/optimizer/<name>.yaml with its stand-alone defaults: an lr that reads a task's tuned value falls back
    to the optimizer's own default, since there is no task."""
    cfg = OmegaConf.load(config_dir() / "optimizer" / f"{name}.yaml")
    resolved = plain_dict(OmegaConf.create({"task": {}, "optimizer": cfg}))
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
    c = _container(cfg)
    name = c.get("name", "?")
    about = read_about(c)
    cls = optimizer_class(c.get("_target_"), about)
    _check_variants(c, about, cls)
    lr = c.get("lr")
    _check(name, "lr", lr, is_number(lr) and lr > 0, "the learning rate must be a finite number > 0")
    if "betas" in c:
        betas = c["betas"]
        ok = isinstance(betas, (list, tuple)) and len(betas) in (2, 3) and all(map(_in_unit_interval, betas))
        _check(name, "betas", betas, ok, "betas must be two numbers (three for Adan, CAME, AdEMAMix), each in [0, 1)")
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
    if "alpha" in c and str(c.get("_target_")).endswith("RMSprop"):  # RMSprop's smoothing constant
        _check(name, "alpha", c["alpha"], _in_unit_interval(c["alpha"]), "alpha must be in [0, 1)")
    if "weight_decay" in c:
        wd = c["weight_decay"]
        _check(name, "weight_decay", wd, is_number(wd) and wd >= 0, "weight_decay must be a finite number >= 0")
    if "fused" in c:
        ok = c["fused"] is None or isinstance(c["fused"], bool) or c["fused"] == "auto"
        _check(name, "fused", c["fused"], ok, "fused must be auto, true, false or null")


def _container(cfg: DictConfig | dict) -> dict:
    return plain_dict(cfg) if isinstance(cfg, DictConfig) else dict(cfg)


def optimizer_class(target: Any, about: About | None = None) -> type:
    """The class an optimizer config's ``_target_`` names; OptbenchError when it does not import (with the
    install command when the optimizer comes from one of optbench's extras)."""
    try:
        cls = locate(target)
    except ImportError as exc:
        if about is not None and about.extra:
            raise OptbenchError(
                f"optimizer '{about.name}' needs {target}, which is not installed here ({exc}). "
                f"{about.install_hint()} The optimizers that need no extra are those whose about.source is "
                f"torch.optim or optbench (see conf/optimizer/)."
            ) from None
        raise OptbenchError(
            f"optimizer._target_={target!r} cannot be imported ({exc}). Use a torch.optim "
            f"class such as torch.optim.Adam, one of optbench.optim.Adafactor / optbench.optim.AdaX, or your own "
            f"torch.optim.Optimizer subclass importable from where optbench runs."
        ) from None
    if not (isinstance(cls, type) and issubclass(cls, torch.optim.Optimizer)):
        raise OptbenchError(f"optimizer._target_={target!r} is not a torch.optim.Optimizer subclass.")
    return cls


def _takes(cls: type, key: str) -> bool:
    return key in inspect.signature(cls).parameters


def _check_variants(c: dict, about: About, cls: type) -> None:
    """``bias_correction`` and ``weight_decay_mode`` are switches this optimizer can honour."""
    name = c.get("name", "?")
    bc = c.get("bias_correction")
    if bc is not None:
        _check(name, "bias_correction", bc, isinstance(bc, bool), "bias_correction must be true or false")
        supported = issubclass(cls, variants.TORCH_ADAM_FAMILY) or _takes(cls, "bias_correction")
        _check(
            name,
            "bias_correction",
            bc,
            bc is True or supported,
            "only Adam, AdamW (torch.optim) and optimizers whose constructor takes bias_correction can switch it off",
        )
    mode = c.get("weight_decay_mode")
    if mode is not None:
        _check(name, "weight_decay_mode", mode, mode in WEIGHT_DECAY_MODES, "weight_decay_mode must be decoupled or l2")
        _check(
            name,
            "weight_decay_mode",
            mode,
            about.weight_decay is not None,
            "this optimizer does not declare what its own weight_decay does (about.weight_decay in its YAML), "
            "so optbench cannot switch it",
        )


def resolve_fused(value: Any, cls: type, params: list[torch.Tensor]) -> bool | None:
    """``fused: auto`` -> for torch.optim classes, torch's fused kernel where it runs (see ``supports_fused``),
    otherwise their default implementation; optbench's own optimizers choose per tensor themselves (None)."""
    if value != "auto":
        return value
    if cls.__module__.startswith("optbench."):
        return None
    return True if supports_fused(params) else None


def optimizer_about(optimizer: torch.optim.Optimizer) -> About:
    """What the optimizer's config declared (an empty declaration for one built elsewhere)."""
    return getattr(optimizer, "optbench_about", None) or About()


def build_optimizer(
    cfg: DictConfig | dict, params: nn.Module | Iterable[torch.Tensor], shard_state: bool = False
) -> torch.optim.Optimizer:
    """Validate ``cfg`` and construct the optimizer over ``params``: a model's parameters, or the model itself
    (optimizers that partition parameters by name or role, ``about.params: model``, need it). ``shard_state``:
    inside ``ZeroRedundancyOptimizer`` (ZeRO-1: each rank keeps the state of its share of the parameters; the
    process group must be up)."""
    validate_optimizer_config(cfg)
    c = _container(cfg)
    about = read_about(c)
    model = params if isinstance(params, nn.Module) else None
    params = list(model.parameters()) if model is not None else list(params)  # type: ignore[arg-type]
    if about.params == "model" and model is None:
        raise OptbenchError(
            f"optimizer '{about.name}' partitions a model's parameters by name and role (about.params: model), "
            f"so build it from the model: build_optimizer(cfg, model)."
        )
    target = c.get("_target_")
    cls = optimizer_class(target, about)
    kwargs = {k: v for k, v in c.items() if k not in NON_CONSTRUCTOR_KEYS}
    for key in ("betas", "eps", "ns_coefficients"):
        if isinstance(kwargs.get(key), list):
            kwargs[key] = tuple(kwargs[key])
    if "fused" in kwargs:
        kwargs["fused"] = resolve_fused(kwargs["fused"], cls, params)
    no_bias_correction = c.get("bias_correction") is False and not _takes(cls, "bias_correction")
    if "bias_correction" in c and _takes(cls, "bias_correction"):
        kwargs["bias_correction"] = c["bias_correction"]
    mode, native = c.get("weight_decay_mode"), about.weight_decay
    moved_decay = kwargs.get("weight_decay", 0.0) if mode is not None and mode != native else 0.0
    if moved_decay:
        kwargs["weight_decay"] = 0.0
    if shard_state:
        check_shardable(str(c.get("name")), cls, about, "zero1")
    try:
        if shard_state:
            from torch.distributed.optim import ZeroRedundancyOptimizer

            outer: torch.optim.Optimizer = ZeroRedundancyOptimizer(params, optimizer_class=cls, **kwargs)
            outer.optbench_about = about  # type: ignore[attr-defined]
            optimizer = outer.optim  # type: ignore[attr-defined]  # this rank's: variants and declarations go on it
        else:
            optimizer = outer = cls(model if about.params == "model" else params, **kwargs)
    except (TypeError, ValueError) as exc:
        raise OptbenchError(
            f"optimizer '{c.get('name')}' ({target}) rejected its configuration: {exc}. "
            f"Valid keys are those of {target}'s constructor; see conf/optimizer/{c.get('name')}.yaml."
        ) from None
    if no_bias_correction:
        variants.disable_bias_correction(optimizer)
    if moved_decay:
        variants.add_weight_decay(optimizer, str(mode), moved_decay)
    optimizer.optbench_about = about
    return outer


def check_shardable(name: str, cls: type, about, strategy: str = "zero1") -> None:
    """Before any work: optimizers that cannot run with their state (``zero1``) or their parameters too (``fsdp``)
    sharded over the ranks. The rules: one built from the whole model (it routes parameters by name and role);
    under ZeRO-1, one that evaluates other weights than it steps (train()/eval() would switch a rank's share
    only); and what its YAML declares under ``about.not_sharded`` (scripts/sharding_support.py finds them)."""
    option = {"zero1": "distributed.shard_optimizer_state=true", "fsdp": "distributed.fully_shard=true"}[strategy]
    why = (about.not_sharded or {}).get(strategy)
    if about.params == "model":
        why = "it is built from the whole model (it routes parameters by name and role)"
    elif strategy == "zero1" and callable(getattr(cls, "eval", None)) and callable(getattr(cls, "train", None)):
        why = "it evaluates other weights than it steps (train()/eval()), and each rank would switch only its share"
    if why:
        raise OptbenchError(
            f"optimizer '{name}' cannot run with {option}: {why}. Run it with plain DDP, or shard another "
            f"optimizer (README: Several GPUs or nodes lists which run under each strategy)."
        )


def validate_wrapper(cfg: DictConfig | dict) -> type:
    """The wrapper's class (conf/wrapper/<name>.yaml), importable; Lookahead's k and alpha in range."""
    c = _container(cfg)
    about = read_about(c)
    target = c.get("_target_")
    try:
        cls = locate(target)
    except ImportError as exc:
        raise OptbenchError(
            f"wrapper '{about.name}' needs {target}, which cannot be imported ({exc}). {about.install_hint()}"
        ) from None
    if "k" in c and not (isinstance(c["k"], int) and not isinstance(c["k"], bool) and c["k"] >= 1):
        raise OptbenchError(f"wrapper.k={c['k']!r} must be a positive integer (fast steps per slow step), e.g. 5.")
    if "alpha" in c and not (is_number(c["alpha"]) and 0.0 < c["alpha"] <= 1.0):
        raise OptbenchError(f"wrapper.alpha={c['alpha']!r} must be in (0, 1], the share the slow weights move.")
    return cls


def wrap_optimizer(cfg: DictConfig | dict, optimizer: torch.optim.Optimizer) -> torch.optim.Optimizer:
    """``optimizer`` inside the wrapper ``cfg`` names (conf/wrapper/, e.g. Lookahead): ``_target_`` is called as
    ``cls(optimizer, **other keys)``; its ``about`` declares the wrapper's own state, counted on top of the base
    optimizer's."""
    c = _container(cfg)
    about = read_about(c)
    target = c.get("_target_")
    cls = validate_wrapper(c)
    kwargs = {k: v for k, v in c.items() if k not in NON_CONSTRUCTOR_KEYS}
    try:
        wrapped = cls(optimizer, **kwargs)
    except (TypeError, ValueError) as exc:
        raise OptbenchError(
            f"wrapper '{about.name}' ({target}) rejected its configuration: {exc}. See conf/wrapper/{about.name}.yaml."
        ) from None
    wrapped.optbench_about = about
    return wrapped
