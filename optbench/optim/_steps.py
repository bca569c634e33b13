"""Shared by the grouped (foreach) optimizer paths."""

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
