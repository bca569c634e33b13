"""Memory accounting: optimizer-state bytes (measured and analytic), parameter/gradient bytes, peak memory.

Measured state bytes count every tensor in ``optimizer.state`` exactly (numel x element size). The analytic count
is derived from parameter shapes and the optimizer's hyperparameters alone, so it also works on the ``meta``
device for models that do not fit in memory.
"""

from __future__ import annotations

import resource
import sys
from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch import Tensor, nn
from torch.optim import Optimizer


def local_shard(t: Tensor) -> Tensor:
    """What this process holds of a tensor: a sharded parameter's (FSDP's DTensor) local shard, else itself."""
    return t.to_local() if callable(getattr(t, "to_local", None)) else t


def _nbytes(t: Tensor) -> int:
    local = local_shard(t)
    return local.numel() * local.element_size()


def _tensor_bytes(value: Any, seen: set) -> int:
    """Bytes of the tensors in one state entry: a tensor, a list of them (SOAP's preconditioners), or a tensor
    subclass made of inner tensors (torchao's 8-bit codes, scales and map); storage shared between entries
    (one quantisation map for many states) counts once."""
    if isinstance(value, (list, tuple)):
        return sum(_tensor_bytes(v, seen) for v in value)
    if not isinstance(value, Tensor):
        return 0
    flatten = getattr(type(value), "__tensor_flatten__", None)
    if flatten is not None and type(value) is not torch.nn.Parameter:
        names, _ = value.__tensor_flatten__()
        return sum(_tensor_bytes(getattr(value, n), seen) for n in names)
    key = (value.data_ptr(), value.numel(), value.dtype) if value.device.type != "meta" else id(value)
    if key in seen and value.data_ptr() != 0:
        return 0
    seen.add(key)
    return _nbytes(value)


def inner_optimizers(optimizer: Optimizer) -> list[Optimizer]:
    """The optimizer and those it wraps (a Lookahead's base optimizer, a hybrid's parts), outermost first."""
    out, todo = [], [optimizer]
    while todo:
        opt = todo.pop(0)
        if any(opt is o for o in out):
            continue
        out.append(opt)
        for attr in ("optimizer", "optim"):  # a wrapper's base (Lookahead), ZeRO's local optimizer
            inner = getattr(opt, attr, None)
            todo += [inner] if isinstance(inner, Optimizer) else []
        todo += [o for o in getattr(opt, "parts", ()) if isinstance(o, Optimizer)]
    return out


def measured_state_bytes(optimizer: Optimizer) -> int:
    """Bytes of every tensor held in the state of ``optimizer`` and of the optimizers it wraps."""
    total, seen = 0, set()
    for opt in inner_optimizers(optimizer):
        for state in opt.state.values():
            for value in state.values():
                total += _tensor_bytes(value, seen)
    return total


def state_rule(optimizer: Optimizer) -> Callable[[Tensor, dict], int] | None:
    """Bytes of state per parameter: the rule the optimizer's YAML declares (``about.state``), else the class's
    own ``state_numel(param, group)`` (elements besides a step counter, as optbench's optimizers declare), else
    None (unknown)."""
    from optbench.optim.factory import optimizer_about
    from optbench.optim.state_rules import counter_bytes, resolve_rule

    declared = resolve_rule(optimizer_about(optimizer).state)
    if declared is not None:
        return declared
    numel = getattr(type(optimizer), "state_numel", None)
    if callable(numel):
        return lambda p, g: numel(p, g) * p.element_size() + counter_bytes()
    return None


def analytic_state_bytes(optimizer: Optimizer) -> int | None:
    """State bytes predicted from parameter shapes and hyperparameters (see optbench/optim/state_rules.py), plus
    what a wrapper (Lookahead) declares for itself. None (unknown) when some part declares no rule."""
    total = 0
    for opt in inner_optimizers(optimizer):
        if getattr(opt, "parts", None) or isinstance(getattr(opt, "optim", None), Optimizer):
            continue  # a hybrid's parts, or ZeRO's local optimizer (this rank's share), hold the state
        rule = state_rule(opt)
        if rule is None:
            return None
        for group in opt.param_groups:
            for p in group["params"]:
                total += rule(local_shard(p), group)
    return total


def parameter_bytes(params: Iterable[Tensor]) -> int:
    return sum(_nbytes(p) for p in params)


def gradient_bytes(params: Iterable[Tensor]) -> int:
    return sum(_nbytes(p.grad) for p in params if p.grad is not None)


def peak_rss_bytes() -> int:
    """Peak resident set size of this process (ru_maxrss is KiB on Linux, bytes on macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024


def memory_record(model: nn.Module, optimizer: Optimizer, device: torch.device) -> dict[str, int | None]:
    """Every memory figure a run reports, in bytes (``state_bytes_analytic`` None when the optimizer declares no
    rule)."""
    params = list(model.parameters())
    state = measured_state_bytes(optimizer)
    p_bytes, g_bytes = parameter_bytes(params), gradient_bytes(params)
    cuda = device.type == "cuda"
    return {
        "state_bytes": state,
        "state_bytes_analytic": analytic_state_bytes(optimizer),
        "param_bytes": p_bytes,
        "grad_bytes": g_bytes,
        "tensor_bytes": p_bytes + g_bytes + state,
        "peak_rss_bytes": peak_rss_bytes(),
        "cuda_max_allocated_bytes": torch.cuda.max_memory_allocated(device) if cuda else None,
    }
