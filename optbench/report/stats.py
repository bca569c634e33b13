"""The statistics behind every verdict a report prints: intervals on a mean, paired tests across seeds, and the
family-wise correction for a table of comparisons.

- **Intervals** (``mean_interval``): Student's t on the mean, which has its nominal coverage at the handful of seeds a
  benchmark affords when the values are roughly normal (a percentile bootstrap of 3 values is about [min, max] and
  covers the mean some 75% of the time). Below ``MIN_INTERVAL_N`` seeds no interval is given: reports show the
  values themselves (``interval_text``).
- **Paired tests** (``paired_test``): runs of two configurations with the same seed share the data order and the
  initialisation, so their per-seed differences carry less noise than two independent means; the difference's
  t interval comes with the p-value.
- **Many comparisons** (``holm``, ``versus_best``): a table that tests every optimizer against the best makes
  k - 1 tests at once; Holm's step-down correction keeps the chance of any false "worse" at alpha. A difference the
  test does not separate is "no difference detected", reported with its simultaneous interval, never "the same".
- **Noise** (``pooled_sd``): the seed-to-seed standard deviation pooled over every configuration with 2+ seeds,
  the figure a "within noise" statement quotes.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from optbench.ranking import best_index

CONFIDENCE = 0.95
MIN_INTERVAL_N = 3  # fewer seeds: no interval, the values are shown
INTERVAL_NAME = "95% Student-t interval on the mean"


def t_half_width(x: np.ndarray, confidence: float) -> float:
    """Half the width of the Student-t interval of the mean of ``x`` (2+ values) at ``confidence``."""
    from scipy import stats

    return float(stats.t.ppf(0.5 + confidence / 2, x.size - 1) * x.std(ddof=1) / math.sqrt(x.size))


def mean_interval(values: Iterable[float], confidence: float = CONFIDENCE) -> tuple[float, float, float] | None:
    """(mean, low, high): the mean and its Student-t interval of the given ``confidence``; None with fewer than
    ``MIN_INTERVAL_N`` finite values or any non-finite one (a missed target has no mean)."""
    x = np.asarray(list(values), dtype=float)
    if x.size < MIN_INTERVAL_N or not np.all(np.isfinite(x)):
        return None
    mean, half = float(x.mean()), t_half_width(x, confidence)
    return (mean, mean - half, mean + half)


def interval_text(values: Sequence[float], digits: str = ".4g", floor: float | None = None) -> str:
    """How a table cell shows a per-seed quantity: 'mean [low, high] (n=3)' from ``mean_interval``; the values
    themselves below ``MIN_INTERVAL_N`` ('0.97, 0.98 (n=2)'); 'missed (n=3)' when every value is infinite (a
    target never reached) and 'missed on 1 of 3; reached: 300, 450' when some are. ``floor``: the least value the
    quantity can take (0 for a time), where the interval is cut."""
    finite = [float(v) for v in values if v == v]
    if not finite:
        return "-"
    reached = [v for v in finite if math.isfinite(v)]
    n = len(finite)
    if not reached:
        return f"missed (n={n})"
    if len(reached) < n:
        return f"missed on {n - len(reached)} of {n}; reached: " + ", ".join(f"{v:{digits}}" for v in reached)
    interval = mean_interval(reached)
    if interval is None:
        return ", ".join(f"{v:{digits}}" for v in reached) + f" (n={n})"
    mean, low, high = interval
    if floor is not None:
        low = max(low, floor)
    return f"{mean:{digits}} [{low:{digits}}, {high:{digits}}] (n={n})"


@dataclass(frozen=True)
class Paired:
    """A paired comparison over the seeds two configurations share: the mean difference (a - b), its Student-t
    interval (NaN below two seeds), the two-sided p-value (NaN below two seeds) and n."""

    diff: float
    low: float
    high: float
    p: float
    n: int


def paired_test(a: Mapping[int, float], b: Mapping[int, float], confidence: float = CONFIDENCE) -> Paired:
    """The paired t-test of ``a`` against ``b`` over their common seeds. Every difference the same: p = 0 for a
    non-zero one, 1 for zero, and a zero-width interval."""
    from scipy import stats

    seeds = sorted(set(a) & set(b))
    d = np.array([a[s] - b[s] for s in seeds], dtype=float)
    if d.size < 2 or not np.all(np.isfinite(d)):
        mean = float(d.mean()) if d.size else math.nan
        return Paired(mean, math.nan, math.nan, math.nan, int(d.size))
    mean = float(d.mean())
    if np.allclose(d, d[0], rtol=0, atol=1e-12 * max(1.0, abs(d[0]))):
        return Paired(mean, mean, mean, 0.0 if d[0] != 0 else 1.0, int(d.size))
    half = t_half_width(d, confidence)
    p = float(stats.ttest_rel([a[s] for s in seeds], [b[s] for s in seeds]).pvalue)
    return Paired(mean, mean - half, mean + half, p, int(d.size))


def holm(pvalues: Mapping[str, float]) -> dict[str, float]:
    """Holm's step-down adjusted p-values (a NaN stays NaN and takes no part): compare each with alpha to keep the
    family-wise error of the whole set at alpha."""
    tested = sorted((p, name) for name, p in pvalues.items() if p == p)
    m = len(tested)
    out = {name: math.nan for name in pvalues}
    running = 0.0
    for i, (p, name) in enumerate(tested):
        running = max(running, min(1.0, (m - i) * p))
        out[name] = running
    return out


def versus_best(
    per_seed: Mapping[str, Mapping[int, float]], higher: bool, alpha: float = 0.05, digits: str = ".3g"
) -> dict[str, str]:
    """Per configuration, how it stands against the best by mean (in the direction ``higher``), by a paired t-test
    over the seeds the two share, Holm-corrected across the table: 'best'; 'worse (d=..., p_Holm=...)' when the
    corrected test separates them at ``alpha``; 'no difference detected (d=... [low, high], p_Holm=...)' when it
    does not, with the difference's simultaneous interval (each at 1 - alpha/m over the m tests, Bonferroni, so it
    holds 0 wherever Holm detects nothing); 'untested (n=1)' with fewer than two common seeds. d is the
    configuration's mean minus the best's (over the seeds the two share)."""
    means = {k: float(np.mean(list(v.values()))) for k, v in per_seed.items() if v}
    if not means:
        return {}
    names = list(means)
    best = names[best_index([means[n] for n in names], higher)]
    others = [name for name in names if name != best]
    m = sum(len(set(per_seed[name]) & set(per_seed[best])) >= 2 for name in others)
    # intervals at the Bonferroni level over the m tests: simultaneous, and holding 0 wherever Holm detects nothing
    tests = {name: paired_test(per_seed[name], per_seed[best], 1 - alpha / max(m, 1)) for name in others}
    adjusted = holm({name: t.p for name, t in tests.items()})
    out = {best: "best"}
    for name, t in tests.items():
        if t.p != t.p:
            out[name] = f"untested (n={t.n})"
        elif adjusted[name] < alpha:
            out[name] = f"worse (d={t.diff:{digits}}, p_Holm={adjusted[name]:.2g})"
        else:
            out[name] = (
                f"no difference detected (d={t.diff:{digits}} [{t.low:{digits}}, {t.high:{digits}}], "
                f"p_Holm={adjusted[name]:.2g})"
            )
    return out


def pooled_sd(groups: Iterable[Sequence[float]]) -> tuple[float, int, int]:
    """(sd, degrees of freedom, groups used): the seed-to-seed standard deviation pooled over every group of 2+
    finite values (each group a configuration's seeds): sqrt(sum of squared deviations / sum of (n - 1))."""
    squares, dof, used = 0.0, 0, 0
    for group in groups:
        x = np.asarray([v for v in group if v == v and math.isfinite(v)], dtype=float)
        if x.size >= 2:
            squares += float(((x - x.mean()) ** 2).sum())
            dof += x.size - 1
            used += 1
    return (math.sqrt(squares / dof) if dof else math.nan, dof, used)
