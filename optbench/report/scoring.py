"""Scoring across workloads: time-to-target per task, performance profiles, and the statistics a reviewer asks for.

- **Performance profile** (Dolan & Moré 2002, as AlgoPerf scores submissions): for each task, an optimizer's
  ratio to the fastest optimizer's time-to-target on that task; ``rho_s(tau)`` is the fraction of tasks on which
  optimizer ``s`` is within a factor ``tau`` of the fastest. A run that misses the target is infinitely slow, so it
  never counts. The score is the area under the profile over ``1 <= tau <= tau_max``, divided by ``tau_max - 1``:
  1 for an optimizer fastest on every task, 0 for one that never reaches a target within ``tau_max``.
- **Speedup over a reference** (Wen et al. 2025): the steps the reference needs to reach a loss, read off its
  runs at several budgets, over the steps the optimizer used (``speedup_over``).

Intervals, paired tests and the correction for many comparisons are in ``stats.py``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

TAU_MAX = 4.0  # AlgoPerf integrates its profiles up to 4x the fastest


def performance_ratios(times: pd.DataFrame) -> pd.DataFrame:
    """tasks x optimizers of time-to-target (inf = missed) -> each time over the task's fastest (inf where missed,
    and everywhere on a task no optimizer reached)."""
    best = times.min(axis=1)
    ratios = times.div(best.where(np.isfinite(best) & (best > 0)), axis=0)
    return ratios.where(np.isfinite(times), np.inf).fillna(np.inf)


def performance_profile(times: pd.DataFrame, taus: Sequence[float]) -> pd.DataFrame:
    """taus x optimizers: the fraction of tasks on which each optimizer is within ``tau`` of the fastest."""
    ratios = performance_ratios(times)
    return pd.DataFrame(
        {name: [float((ratios[name] <= tau).mean()) for tau in taus] for name in ratios.columns},
        index=pd.Index(list(taus), name="tau"),
    )


def profile_score(times: pd.DataFrame, tau_max: float = TAU_MAX) -> pd.Series:
    """The area under each optimizer's performance profile on [1, tau_max], normalised to [0, 1]."""
    ratios = performance_ratios(times)
    # rho(tau) is a step function that rises at each ratio r <= tau_max: its integral over [1, tau_max] is the
    # sum over tasks of (tau_max - max(r, 1)) for the tasks with r <= tau_max, over the number of tasks
    area = ratios.apply(lambda r: float(np.clip(tau_max - r.clip(lower=1.0), 0.0, None).sum()) / len(r))
    return (area / (tau_max - 1.0)).rename("score")


def steps_to_reach(budgets: Sequence[float], finals: Sequence[float], loss: float) -> tuple[float, str]:
    """How many steps the reference optimizer needs for a final ``loss``, from its runs at several budgets (each a
    full run with its own schedule): linear interpolation of final loss in log(steps) between the two budgets that
    bracket ``loss``. Returns (steps, bound): bound is "" inside the budgets, ">" when even the largest budget does
    not reach ``loss`` (steps = the largest budget), "<" when the smallest budget already beats it (the smallest)."""
    pairs = sorted((float(b), float(f)) for b, f in zip(budgets, finals, strict=True) if math.isfinite(f))
    if not pairs:
        return (math.nan, "")
    if loss < min(f for _, f in pairs):
        return (pairs[-1][0], ">")
    if loss >= pairs[0][1]:
        return (pairs[0][0], "<")
    for (b0, f0), (b1, f1) in zip(pairs, pairs[1:], strict=False):
        if f1 <= loss <= f0 and f0 != f1:  # the first bracket along growing budgets
            w = (f0 - loss) / (f0 - f1)
            return (math.exp(math.log(b0) + w * (math.log(b1) - math.log(b0))), "")
    # a non-monotone curve that never crosses between neighbours: the smallest budget reaching it
    return (min(b for b, f in pairs if f <= loss), "")


def speedup_over(budgets: Sequence[float], finals: Sequence[float], loss: float, steps: float) -> tuple[float, str]:
    """(speedup, bound): the steps the reference needs to reach ``loss`` over the ``steps`` the optimizer used
    (Wen et al. 2025's measure); bound ">" or "<" when the loss is outside what the reference's budgets reach."""
    needed, bound = steps_to_reach(budgets, finals, loss)
    return (needed / steps, bound)
