"""Shared by the optimizers' fast paths (grouped foreach kernels, torch's fused kernels)."""

from __future__ import annotations

import torch
from torch import Tensor


def advance_and_bucket(steps: list[Tensor]) -> dict[int, list[int]]:
    """Add one to every step counter and group tensor indices by their new step value.

    Counters move together within a param group except when parameters start receiving gradients late; each
    bucket can then use one set of step-dependent scalars. The counters live on the CPU, so reading them is cheap.
    """
    torch._foreach_add_(steps, 1.0)
    buckets: dict[int, list[int]] = {}
    for i, s in enumerate(steps):
        buckets.setdefault(int(s.item()), []).append(i)
    return buckets


FUSED_DEVICES = ("cpu", "cuda")


def dense_alike(*tensors: Tensor | None) -> bool:
    """Whether a fused kernel may take these tensors (a parameter, its gradient and its state; None entries are
    skipped): such kernels walk every tensor as one dense block, so each must be contiguous and dense, of the first
    one's dtype and device. A strided or transposed view would be updated wrongly and the memory beside it written."""
    present = [t for t in tensors if t is not None]
    first = present[0]
    return all(
        t.is_contiguous() and not t.is_sparse and t.dtype == first.dtype and t.device == first.device for t in present
    )


def supports_fused(params: list[Tensor]) -> bool:
    """True when torch's fused optimizer kernels can run on ``params``: floating tensors on a CPU or CUDA device
    (not e.g. ``meta``)."""
    return bool(params) and all(p.is_floating_point() and p.device.type in FUSED_DEVICES for p in params)
