"""Scoring across workloads: time-to-target per task, performance profiles, and the statistics a reviewer asks for.

- **Performance profile** (Dolan & Moré 2002, as AlgoPerf scores submissions): for each task, an optimizer's
  ratio to the fastest optimizer's time-to-target on that task; ``rho_s(tau)`` is the fraction of tasks on which
  optimizer ``s`` is within a factor ``tau`` of the fastest. A run that misses the target is infinitely slow, so it
  never counts. The score is the area under the profile over ``1 <= tau <= tau_max``, divided by ``tau_max - 1``:
  1 for an optimizer fastest on every task, 0 for one that never reaches a target within ``tau_max``.
- **Confidence intervals**: percentile bootstrap of the mean over seeds (``bootstrap_ci``).
- **Pairwise differences**: a paired t-test across seeds (``paired_test``): runs of two optimizers with the same
  seed share the data order and the initialisation, so pairing removes that variance; with the 3 to 5 seeds a CPU
  budget affords, the t-test's Student quantile (4.30 for 3 seeds) is the honest width, where a bootstrap of 3
  paired differences has only 10 distinct resamples and would claim differences the data cannot support.
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


def bootstrap_ci(
    values: Sequence[float], alpha: float = 0.05, n_boot: int = 10_000, seed: int = 0
) -> tuple[float, float, float]:
    """(mean, low, high): the mean and its percentile-bootstrap (1 - alpha) interval. Infinite values (missed
    targets) make the mean infinite; one value gives a zero-width interval."""
    x = np.asarray(list(values), dtype=float)
    if x.size == 0:
        return (math.nan, math.nan, math.nan)
    mean = float(x.mean())
    if x.size == 1 or not np.all(np.isfinite(x)):
        return (mean, mean, mean) if np.all(np.isfinite(x)) else (mean, float(np.min(x)), math.inf)
    rng = np.random.default_rng(seed)
    means = x[rng.integers(0, x.size, size=(n_boot, x.size))].mean(axis=1)
    low, high = np.quantile(means, [alpha / 2, 1 - alpha / 2])
    return (mean, float(low), float(high))


def paired_test(a: dict[int, float], b: dict[int, float]) -> tuple[float, float, int]:
    """(mean difference a - b, two-sided p-value, n) of a paired t-test over the seeds both have. p is NaN with
    fewer than two common seeds, 0 when every difference is the same non-zero number, 1 when they are all zero."""
    from scipy import stats

    seeds = sorted(set(a) & set(b))
    d = np.array([a[s] - b[s] for s in seeds], dtype=float)
    if d.size < 2 or not np.all(np.isfinite(d)):
        return (float(d.mean()) if d.size else math.nan, math.nan, int(d.size))
    if np.allclose(d, d[0]):
        return (float(d[0]), 0.0 if d[0] != 0 else 1.0, int(d.size))
    return (float(d.mean()), float(stats.ttest_rel([a[s] for s in seeds], [b[s] for s in seeds]).pvalue), int(d.size))


def pairwise_significance(per_seed: dict[str, dict[int, float]], alpha: float = 0.05) -> pd.DataFrame:
    """optimizers x optimizers: the paired test's p-value for each pair (NaN on the diagonal)."""
    names = list(per_seed)
    p = pd.DataFrame(np.nan, index=names, columns=names)
    for i, x in enumerate(names):
        for y in names[i + 1 :]:
            _, pvalue, _ = paired_test(per_seed[x], per_seed[y])
            p.loc[x, y] = p.loc[y, x] = pvalue
    return p


def versus_best(per_seed: dict[str, dict[int, float]], higher: bool, alpha: float = 0.05) -> dict[str, str]:
    """Per optimizer, how it stands against the best by mean: "best", "worse (p=...)" when the paired test
    separates them at ``alpha``, "not significant (p=...)" when it does not, "untested (n=1)" when the two share
    fewer than two seeds (no test is possible)."""
    means = {k: float(np.mean(list(v.values()))) for k, v in per_seed.items() if v}
    if not means:
        return {}
    best = max(means, key=means.get) if higher else min(means, key=means.get)
    out = {best: "best"}
    for name in means:
        if name != best:
            _, pvalue, n = paired_test(per_seed[best], per_seed[name])
            if pvalue != pvalue:  # NaN: too few common seeds
                out[name] = f"untested (n={n})"
            else:
                out[name] = f"{'worse' if pvalue < alpha else 'not significant'} (p={pvalue:.2g})"
    return out


def not_separated_from_best(per_seed: dict[str, dict[int, float]], higher: bool, alpha: float = 0.05) -> set[str]:
    """The optimizers whose difference from the best (by mean) is not significant at ``alpha``, the best included
    (too few seeds to test counts as not separated)."""
    return {name for name, word in versus_best(per_seed, higher, alpha).items() if not word.startswith("worse")}


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
