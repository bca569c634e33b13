"""Which result is better: the one place that knows a task's direction (higher or lower is better).

A task declares its direction once, as ``higher_is_better`` in its config (conf/task/*.yaml), falling back to its
class attribute for a task YAML that leaves it out. Every ranking (the tuner, the reports' best lr, summary table,
time-to-target and trajectories) goes through the functions here, never through ``max`` or ``idxmax`` on its own.

A run that diverged or failed has no score (None or NaN) and ranks below every finished run in either direction.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

import pandas as pd

from optbench.imports import locate


def higher_is_better(task_cfg: Mapping[str, Any]) -> bool:
    """The direction of a task's headline metric: its config's ``higher_is_better``, else its class attribute."""
    value = task_cfg.get("higher_is_better")
    if value is not None:
        return bool(value)
    target = task_cfg.get("_target_")
    if target:
        try:
            return bool(getattr(locate(target), "higher_is_better", True))
        except ImportError:  # reported by the config check, not here
            return True
    return True


def frame_direction(runs: pd.DataFrame) -> bool:
    """The direction recorded with a set of runs (their summaries' ``higher_is_better``); True when absent."""
    if "higher_is_better" not in runs or runs.empty:
        return True
    values = runs["higher_is_better"].dropna().astype(bool).unique()
    if len(values) > 1:
        raise ValueError("these runs mix tasks whose metrics point in different directions; filter by task")
    return bool(values[0]) if len(values) else True


LOWER_IS_BETTER_SUFFIXES = ("loss", "perplexity")


def score_direction(name: str | None, task_higher: bool) -> bool:
    """The direction of a summary score a sweeper ranks by (``tune_metric``): the task's own for its headline
    (``final_metric``, or None), lower for a loss or perplexity (``final_eval_loss``), else the task's."""
    if name and name != "final_metric" and name.endswith(LOWER_IS_BETTER_SUFFIXES):
        return False
    return task_higher


def _finite(value: Any) -> bool:
    return value is not None and isinstance(value, (int, float)) and math.isfinite(value)


def oriented(value: Any, higher: bool) -> float:
    """A score where larger is always better: the value, or its negation for lower-is-better metrics; a missing
    or non-finite value (a diverged or failed run) is -inf."""
    if not _finite(value):
        return -math.inf
    return float(value) if higher else -float(value)


def best_index(scores: Iterable[Any], higher: bool) -> int:
    """Index of the best score (the first of equals); missing scores are the worst."""
    values = [oriented(s, higher) for s in scores]
    if not values:
        raise ValueError("no scores to rank")
    return max(range(len(values)), key=lambda i: (values[i], -i))


def reaches(value: Any, target: float, higher: bool) -> bool:
    """Whether ``value`` meets the ``target`` (>= for higher-is-better metrics, <= for lower-is-better ones)."""
    if not _finite(value):
        return False
    return value >= target if higher else value <= target


def oriented_series(values: pd.Series, higher: bool) -> pd.Series:
    """``oriented`` applied to a column."""
    return values.map(lambda v: oriented(v, higher))


def sort_best_first(frame: pd.DataFrame, column: str, higher: bool) -> pd.DataFrame:
    """Rows ordered from the best ``column`` value to the worst; missing values last."""
    key = oriented_series(frame[column], higher)
    return frame.assign(_key=key).sort_values("_key", ascending=False, kind="stable").drop(columns="_key")


def comparison_word(higher: bool) -> str:
    """'>=' or '<=': how a value meets a target, for captions."""
    return ">=" if higher else "<="
