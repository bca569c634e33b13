"""Switches that derive a variant from a base optimizer without a new class: no bias correction for torch's
Adam family, and weight decay in the mode the optimizer does not do itself.

* ``bias_correction: false`` for ``torch.optim.Adam`` / ``AdamW``: BERT's AdamW, theta -= lr m / (sqrt(v) + eps).
  torch has no switch; a step pre-hook creates each parameter's state with a step count of 1e30, at which
  1 - beta^t is exactly 1 for every beta < 1 (beta^1e30 underflows to 0) and t + 1 == t in float32, so every
  implementation (single tensor, foreach, fused) runs unchanged without correction. Classes whose constructor
  takes ``bias_correction`` (AdaX) get it passed instead.
* ``weight_decay_mode: l2 | decoupled``: when it differs from what the optimizer's own ``weight_decay`` does
  (``about.weight_decay``), the optimizer is built with no weight decay and a step pre-hook applies it:
  ``l2`` adds wd * theta to the gradient before the adaptive scaling; ``decoupled`` scales theta by
  (1 - lr * wd) before the update, torch.optim.AdamW's convention (so Adam + decoupled is AdamW exactly).
  The value lives in each param group (``optbench_l2_weight_decay`` / ``optbench_decoupled_weight_decay``; torch
  AdamW's own groups hold a ``decoupled_weight_decay`` flag), saved with the state.
"""

from __future__ import annotations

import torch
from torch.optim import Optimizer

NO_BIAS_CORRECTION_STEP = 1e30
TORCH_ADAM_FAMILY = (torch.optim.Adam, torch.optim.AdamW)
GROUP_KEY = {"l2": "optbench_l2_weight_decay", "decoupled": "optbench_decoupled_weight_decay"}


def _scalar_dtype(fused: bool) -> torch.dtype:
    return torch.float64 if torch.get_default_dtype() == torch.float64 and not fused else torch.float32


@torch.no_grad()
def _start_without_bias_correction(optimizer: Optimizer, args, kwargs) -> None:
    for group in optimizer.param_groups:
        fused, on_device = bool(group.get("fused")), bool(group.get("fused") or group.get("capturable"))
        for p in group["params"]:
            if p.grad is None or optimizer.state[p]:
                continue
            state = optimizer.state[p]
            device = p.device if on_device else torch.device("cpu")
            state["step"] = torch.tensor(NO_BIAS_CORRECTION_STEP, dtype=_scalar_dtype(fused), device=device)
            state["exp_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
            state["exp_avg_sq"] = torch.zeros_like(p, memory_format=torch.preserve_format)
            if group.get("amsgrad"):
                state["max_exp_avg_sq"] = torch.zeros_like(p, memory_format=torch.preserve_format)


def disable_bias_correction(optimizer: Optimizer) -> None:
    """Make a torch Adam/AdamW skip both bias corrections from its first step (see the module docstring)."""
    optimizer.register_step_pre_hook(_start_without_bias_correction)


@torch.no_grad()
def _apply_weight_decay(optimizer: Optimizer, args, kwargs) -> None:
    for group in optimizer.param_groups:
        l2, decoupled = group.get(GROUP_KEY["l2"], 0.0), group.get(GROUP_KEY["decoupled"], 0.0)
        params = [p for p in group["params"] if p.grad is not None]
        if not params:
            continue
        if l2:
            torch._foreach_add_([p.grad for p in params], params, alpha=l2)
        if decoupled:
            torch._foreach_mul_(params, 1.0 - group["lr"] * decoupled)


def add_weight_decay(optimizer: Optimizer, mode: str, weight_decay: float) -> None:
    """Apply ``weight_decay`` in ``mode`` (l2 | decoupled) before every step of ``optimizer``."""
    for group in optimizer.param_groups:
        group[GROUP_KEY[mode]] = weight_decay
    optimizer.register_step_pre_hook(_apply_weight_decay)
