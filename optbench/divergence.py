"""The divergence guard: stop a run whose training loss is NaN, infinite, or has exploded.

A loss explodes when ``|loss| > task.max_loss_factor * max(|first loss|, 1)``: with the default factor of 100, a
cross-entropy that starts at 2.3 has diverged above 230. ``task.max_loss_factor=null`` keeps only the NaN/inf test.

On the CPU every step's loss is checked as soon as it is computed (reading a CPU scalar costs nothing). On CUDA,
reading a loss waits for the GPU, so the losses stay on the device and are read together every
``CUDA_CHECK_EVERY`` steps: a diverged run stops within that many steps, with one host sync per check instead of
one per step. Either way the step named is the exact first bad one.
"""

from __future__ import annotations

import math

import torch

CUDA_CHECK_EVERY = 10
DEFAULT_MAX_LOSS_FACTOR = 100.0


class Diverged(Exception):
    """The training loss became non-finite, or exploded, at ``step``."""

    def __init__(self, value: float, step: int, why: str = "") -> None:
        super().__init__(f"loss became {value:.4g} at step {step}" + (f" ({why})" if why else ""))
        self.value = value
        self.step = step


class DivergenceGuard:
    """Watches the per-step training losses; ``observe`` raises Diverged at the first bad one it reads."""

    def __init__(self, device: torch.device, max_loss_factor: float | None = DEFAULT_MAX_LOSS_FACTOR) -> None:
        self.check_every = CUDA_CHECK_EVERY if device.type == "cuda" else 1
        self.max_loss_factor = max_loss_factor
        self.limit: float | None = None  # set from the first loss
        self._pending: list[torch.Tensor] = []
        self._last_step = 0

    def observe(self, loss: torch.Tensor, step: int) -> None:
        """Note the loss of ``step``; check the pending losses when enough have gathered."""
        self._pending.append(loss.detach())
        self._last_step = step
        if len(self._pending) >= self.check_every:
            self.check()

    def check(self) -> None:
        """Read the pending losses (one transfer) and raise Diverged naming the first bad step."""
        if not self._pending:
            return
        values = torch.stack(self._pending).tolist() if len(self._pending) > 1 else [self._pending[0].item()]
        first_step = self._last_step - len(values) + 1
        self._pending.clear()
        for i, value in enumerate(values):
            if not math.isfinite(value):
                raise Diverged(value, first_step + i)
            if self.limit is None:
                if self.max_loss_factor is not None:
                    self.limit = self.max_loss_factor * max(abs(value), 1.0)
                else:
                    self.limit = math.inf
            elif abs(value) > self.limit:
                why = f"above task.max_loss_factor={self.max_loss_factor:g} x the first loss"
                raise Diverged(value, first_step + i, why)
