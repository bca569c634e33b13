"""Memory accounting: optimizer-state bytes (measured and analytic), parameter/gradient bytes, peak memory.

Measured state bytes count every tensor in ``optimizer.state`` exactly (numel x element size). The analytic count
is derived from parameter shapes and the optimizer's hyperparameters alone, so it also works on the ``meta``
device for models that do not fit in memory.
"""

from __future__ import annotations

import resource
import sys
from collections.abc import Callable, Iterable

import torch
from torch import Tensor, nn
from torch.optim import Optimizer


def _scalar_step_bytes() -> int:
    """torch.optim keeps ``step`` as a float32 CPU scalar (float64 when that is the default dtype)."""
    return 8 if torch.get_default_dtype() == torch.float64 else 4


def _nbytes(t: Tensor) -> int:
    return t.numel() * t.element_size()


def measured_state_bytes(optimizer: Optimizer) -> int:
    """Bytes of every tensor held in ``optimizer.state``."""
    total = 0
    for state in optimizer.state.values():
        for value in state.values():
            if isinstance(value, Tensor):
                total += _nbytes(value)
    return total


# Elements of state per parameter, besides a scalar step counter, and whether that counter exists.
def _sgd(p: Tensor, g: dict) -> tuple[int, bool]:
    return (p.numel() if g["momentum"] != 0 else 0), False


def _adagrad(p: Tensor, g: dict) -> tuple[int, bool]:
    return p.numel(), True


def _rmsprop(p: Tensor, g: dict) -> tuple[int, bool]:
    slots = 1 + (g["momentum"] > 0) + bool(g["centered"])
    return slots * p.numel(), True


def _adam(p: Tensor, g: dict) -> tuple[int, bool]:
    return (3 if g.get("amsgrad") else 2) * p.numel(), True


# torch.optim's classes, which cannot declare a rule themselves. Any other optimizer class declares its rule as a
# static method ``state_numel(param, group) -> int`` (elements of state besides a scalar step counter), as
# optbench's own do; one without a rule has an unknown analytic count.
TORCH_STATE_RULES: dict[type, Callable[[Tensor, dict], tuple[int, bool]]] = {
    torch.optim.SGD: _sgd,
    torch.optim.Adagrad: _adagrad,
    torch.optim.RMSprop: _rmsprop,
    torch.optim.Adam: _adam,
    torch.optim.AdamW: _adam,
}


def state_rule(optimizer: Optimizer) -> Callable[[Tensor, dict], tuple[int, bool]] | None:
    """(elements, has step counter) per parameter: the class's own ``state_numel``, torch's rule, or None."""
    declared = getattr(type(optimizer), "state_numel", None)
    if callable(declared):
        return lambda p, g: (declared(p, g), True)
    return TORCH_STATE_RULES.get(type(optimizer))


def analytic_state_bytes(optimizer: Optimizer) -> int | None:
    """State bytes predicted from parameter shapes: slots x numel, factored rows + cols, step scalars. None (unknown)
    for an optimizer without a rule."""
    rule = state_rule(optimizer)
    if rule is None:
        return None
    total = 0
    for group in optimizer.param_groups:
        for p in group["params"]:
            numel, has_step = rule(p, group)
            total += numel * p.element_size() + (_scalar_step_bytes() if has_step else 0)
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
