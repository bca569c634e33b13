"""Training precision: the one place the runner asks for the autocast context and the parameter dtype.

* ``fp32``: everything in float32.
* ``bf16-mixed``: ``torch.autocast`` to bfloat16 for the forward pass and the loss (on the CPU and on CUDA);
  parameters, gradients and optimizer state stay float32. bfloat16 has float32's exponent range, so no loss
  scaling (``GradScaler``) is needed, unlike float16.
* ``bf16``: parameters, gradients and optimizer state in bfloat16 (as T5 was trained with Adafactor), with the
  same autocast so that inputs and the ops autocast keeps in float32 (softmax, cross-entropy) are cast for it.
  An update smaller than half a bfloat16 ulp of its parameter rounds away: with 8 bits of mantissa, a step that
  changes a weight by less than about 2^-9 of its magnitude is lost, and so is weight decay whenever
  lr x weight_decay < 2^-9.

Evaluation runs under the same context as training, so a model is scored at the precision it was trained in.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import torch
from torch import nn

from optbench.errors import OptbenchError


@dataclass(frozen=True)
class Precision:
    name: str
    param_dtype: torch.dtype  # parameters, gradients and optimizer state
    compute_dtype: torch.dtype | None  # autocast's dtype for the forward pass; None = no autocast

    def autocast(self, device: torch.device):
        """The context the forward pass and the loss run in."""
        if self.compute_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=device.type, dtype=self.compute_dtype)

    def prepare_model(self, model: nn.Module) -> nn.Module:
        """The model with its parameters (and floating buffers) in ``param_dtype``."""
        return model.to(self.param_dtype) if self.param_dtype != torch.float32 else model


PRECISIONS = {
    "fp32": Precision("fp32", torch.float32, None),
    "bf16-mixed": Precision("bf16-mixed", torch.float32, torch.bfloat16),
    "bf16": Precision("bf16", torch.bfloat16, torch.bfloat16),
}


def resolve_precision(name: object) -> Precision:
    """The Precision named ``name``; OptbenchError naming the choices otherwise."""
    if not isinstance(name, str) or name not in PRECISIONS:
        raise OptbenchError(
            f"precision={name!r} is not a training precision; choose one of {', '.join(PRECISIONS)} "
            f"(fp16 is not offered: it needs loss scaling, and bf16 does the same job without it)."
        )
    return PRECISIONS[name]
