"""Learning-rate schedules as multipliers of the configured lr, applied with torch's LambdaLR.

Steps are 1-based: ``factor(1)`` scales the first optimizer step.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from omegaconf import DictConfig
from torch.optim import Optimizer
from torch.optim.lr_scheduler import LambdaLR

from optbench.errors import OptbenchError
from optbench.values import is_int, is_number

SCHEDULES = ("constant", "warmup_rsqrt", "cosine")


def schedule_factor(cfg: DictConfig | dict, total_steps: int) -> Callable[[int], float]:
    """The multiplier of the lr at each 1-based step; raises OptbenchError on a bad setting."""
    name = cfg["name"]
    warmup = cfg.get("warmup_steps", 0)
    warmup = 0 if warmup is None else warmup
    if not is_int(warmup) or warmup < 0:
        raise OptbenchError(f"schedule.warmup_steps={warmup!r} must be a non-negative integer (0 = no warmup).")

    def ramp(step: int) -> float:
        return min(1.0, step / warmup) if warmup > 0 else 1.0

    if name == "constant":
        return ramp
    if name == "warmup_rsqrt":
        # peak at the end of warmup, then lr * sqrt(decay_start / step); decay_start defaults to the warmup
        decay_start = cfg.get("decay_start")
        if decay_start is not None and (not is_int(decay_start) or decay_start < 1):
            raise OptbenchError(
                f"schedule.decay_start={decay_start!r} must be a positive integer or null (= warmup_steps)."
            )
        decay_start = max(1, decay_start or warmup or 1)
        return lambda step: ramp(step) * math.sqrt(decay_start / max(step, decay_start))
    if name == "cosine":
        min_ratio = cfg.get("min_ratio", 0.0)
        if not is_number(min_ratio) or not 0.0 <= min_ratio <= 1.0:
            raise OptbenchError(
                f"schedule.min_ratio={min_ratio!r} must be a number in [0, 1]: the final lr as a fraction of the "
                f"peak (below 0 the lr would turn negative)."
            )

        def cosine(step: int) -> float:
            if step <= warmup:
                return ramp(step)
            progress = min(1.0, (step - warmup) / max(1, total_steps - warmup))
            return min_ratio + (1.0 - min_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))

        return cosine
    raise OptbenchError(f"schedule.name={name!r} is not a known schedule; choose one of {', '.join(SCHEDULES)}.")


def build_scheduler(cfg: DictConfig | dict, optimizer: Optimizer, total_steps: int) -> LambdaLR | None:
    """A LambdaLR over ``schedule_factor``, or None when the factor is always 1 (constant, no warmup)."""
    factor = schedule_factor(cfg, total_steps)
    if cfg["name"] == "constant" and not cfg.get("warmup_steps"):
        return None
    return LambdaLR(optimizer, lambda i: factor(i + 1))
