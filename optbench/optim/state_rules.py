"""Analytic optimizer-state rules: bytes of state one parameter will hold, from its shape and its param group.

An optimizer's YAML names its rule under ``about.state`` (``rule:`` plus the rule's arguments), e.g.::

    about:
      state: {rule: like_param, slots: 2, counters: 1}      # Adam: exp_avg, exp_avg_sq and a step counter

``rule`` is a function here or a dotted path to your own, called as ``rule(param, group, **arguments)``. Rules
read only shapes, dtypes and hyperparameters, so they also work on the ``meta`` device for models too large to
build; the optimizer contract test checks every rule against the bytes a real step allocates.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

import torch
from torch import Tensor

from optbench.imports import locate


def counter_bytes() -> int:
    """torch.optim keeps ``step`` as a float32 CPU scalar (float64 when that is the default dtype)."""
    return 8 if torch.get_default_dtype() == torch.float64 else 4


def _extra_slots(group: Mapping, when: Mapping[str, int] | None) -> int:
    """Slots that exist only when a hyperparameter is set: ``when: {momentum: 1}`` adds one if momentum != 0."""
    return sum(n for key, n in (when or {}).items() if group.get(key))


def like_param(
    p: Tensor,
    group: Mapping,
    slots: int = 0,
    counters: int = 0,
    scalars: int = 0,
    when: Mapping[str, int] | None = None,
    dtype: str | None = None,
) -> int:
    """``slots`` tensors shaped like the parameter (plus ``when``'s conditional ones), ``counters`` 0-d step
    counters in torch's convention, ``scalars`` 0-d tensors in the parameter's dtype. ``dtype: float32`` for
    libraries that keep state in float32 whatever the parameter's dtype."""
    size = torch.empty((), dtype=getattr(torch, dtype)).element_size() if dtype else p.element_size()
    return (slots + _extra_slots(group, when)) * p.numel() * size + counters * counter_bytes() + scalars * size


def factored(p: Tensor, group: Mapping, full: int = 1, factored_pairs: int = 2, scalars: int = 1) -> int:
    """CAME's layout: ``full`` parameter-shaped slots (the first moment); for tensors of 2 or more dimensions
    ``factored_pairs`` row/column statistics (second moment and confidence: rows = shape[:-1], columns =
    shape[:-2] + shape[-1:]), for vectors one full second moment instead; ``scalars`` 0-d tensors (RMS)."""
    size = p.element_size()
    if p.dim() >= 2:
        shape = tuple(p.shape)
        rows, cols = math.prod(shape[:-1]), math.prod(shape[:-2] + shape[-1:])
        return (full * p.numel() + factored_pairs * (rows + cols) + scalars) * size
    return ((full + 1) * p.numel() + scalars) * size


def sm3(p: Tensor, group: Mapping, momentum_buffer: bool = True) -> int:
    """SM3 (Anil et al. 2019): one accumulator per dimension, of that dimension's length (a vector's is its own
    length), plus a momentum buffer shaped like the parameter."""
    accumulators = p.numel() if p.dim() <= 1 else sum(p.shape)
    return (accumulators + (p.numel() if momentum_buffer else 0)) * p.element_size()


def soap(p: Tensor, group: Mapping) -> int:
    """SOAP (Vyas et al. 2024): Adam's two moments in the eigenbasis, and per preconditioned dimension d a d x d
    statistic (GG) and its eigenbasis (Q). Dimensions above ``max_precondition_dim`` are not preconditioned; nor
    are vectors unless ``precondition_1d``."""
    if group.get("merge_dims"):
        raise NotImplementedError("soap's analytic rule does not model merge_dims=true")
    limit = group["max_precondition_dim"]
    dims = [p.shape[0]] if p.dim() == 1 and group["precondition_1d"] else (list(p.shape) if p.dim() > 1 else [])
    matrices = sum(2 * d * d for d in dims if d <= limit)
    return (2 * p.numel() + matrices) * p.element_size()


def adam_mini(p: Tensor, group: Mapping, embed_blocks: tuple[str, ...] = (), qk_blocks: tuple[str, ...] = ()) -> int:
    """Adam-mini (Zhang et al. 2024), as pytorch-optimizer partitions by parameter name: embeddings and output
    keep Adam's full second moment; query/key projections one per head; every other tensor one scalar (plus its
    element count as a 0-d tensor). The first moment is full; all state is float32."""
    name, f32 = group.get("name", ""), 4
    if any(block in name for block in embed_blocks):
        return 2 * p.numel() * f32
    if any(block in name for block in qk_blocks):
        return (p.numel() + p.numel() // group["parameter_per_head"]) * f32
    return (p.numel() + 2) * f32


def low_bit(p: Tensor, group: Mapping, bits: int = 8, slots: int = 2, block_size: int = 256, min_numel: int = 4096):
    """torchao's low-bit Adam: each of ``slots`` moments as ``bits``-bit codes with one float scale per block of
    ``block_size`` and a 2^bits-entry quantisation map; tensors under ``min_numel`` elements (or not divisible
    by the block) keep full-precision state, as bitsandbytes does. Plus a float32 step counter."""
    numel = p.numel()
    if numel >= min_numel and numel % block_size == 0:
        per_slot = numel * bits // 8 + (numel // block_size) * p.element_size() + (2**bits) * 4
    else:
        per_slot = numel * p.element_size()
    return slots * per_slot + 4


def resolve_rule(spec: Mapping[str, Any] | None) -> Callable[[Tensor, Mapping], int] | None:
    """``about.state`` as a function of (param, group), or None when the optimizer declares no rule."""
    if not spec:
        return None
    args = {k: (tuple(v) if isinstance(v, list) else v) for k, v in spec.items() if k != "rule"}
    name = spec.get("rule", "like_param")
    local = globals().get(name)
    fn = local if callable(local) and getattr(local, "__module__", None) == __name__ else locate(name)
    return lambda p, g: int(fn(p, g, **args))
