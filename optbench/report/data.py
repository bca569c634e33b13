"""Runs for a report: summaries and per-step metrics from the local store (or a W&B project), filtered."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence

import pandas as pd

from optbench.errors import OptbenchError
from optbench.tracking.naming import family_labels
from optbench.tracking.store import load_metrics, load_summaries


def filter_runs(
    runs: pd.DataFrame,
    task: str | None = None,
    sweep: str | None = None,
    tags: Sequence[str] = (),
    optimizers: Sequence[str] = (),
    seeds: Sequence[int] = (),
) -> pd.DataFrame:
    """Rows matching every given filter (None or empty = no filter on that field)."""
    if runs.empty:
        return runs
    keep = pd.Series(True, index=runs.index)
    if task:
        keep &= runs["task"] == task
    if sweep:
        keep &= runs["sweep"] == sweep
    for tag in tags:
        keep &= runs["tags"].apply(lambda t, tag=tag: tag in list(t))
    if optimizers:
        keep &= runs["optimizer"].isin(list(optimizers))
    if seeds:
        keep &= runs["seed"].isin(list(seeds))
    return runs[keep & (runs["status"] != "failed")].reset_index(drop=True)


def by_variant(runs: pd.DataFrame) -> pd.DataFrame:
    """Reports group and label runs by ``optimizer``: there, each configuration family (every run whose config
    differs only in the seed and the lr, ``store.family``) is its own entry, named by its variant ('adam, no bias
    correction') and by what sets it apart from the other families of that variant ('adamw, wd=0.5'); the plain
    name stays in ``optimizer_name`` (what ``filters.optimizers`` matches). Runs of different families are never
    pooled."""
    if runs.empty or "optimizer_name" in runs:
        return runs
    runs = runs.assign(optimizer_name=runs["optimizer"])
    if "label" in runs:
        runs["optimizer"] = runs["label"].where(runs["label"].notna(), runs["optimizer"])
    if "family" in runs:
        families = [json.loads(f) if isinstance(f, str) else {} for f in runs["family"]]
        tasks = runs["task"].astype(str).tolist() if "task" in runs else None
        runs["optimizer"] = family_labels(runs["optimizer"].tolist(), families, tasks)
    return runs


def load_runs(store_dir: str, **filters) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(summaries, metrics) of the finished and diverged runs in the store that match ``filters``, one entry per
    optimizer variant (see ``by_variant``)."""
    skipped: list[str] = []
    runs = by_variant(filter_runs(load_summaries(store_dir, skipped=skipped, families=True), **filters))
    metrics = load_metrics(store_dir, list(runs["run_id"]), skipped=skipped) if not runs.empty else pd.DataFrame()
    if skipped:
        n = len(skipped)
        print(
            f"optbench-report: skipped {n} unreadable record{'s' if n != 1 else ''}: {', '.join(skipped)} "
            f"(empty, corrupt or incomplete files; rerunning their configs redoes them)",
            file=sys.stderr,
        )
        runs = runs[~runs["run_id"].isin(skipped)].reset_index(drop=True) if not runs.empty else runs
    if runs.empty:
        shown = ", ".join(f"{k}={v}" for k, v in filters.items() if v) or "none"
        raise OptbenchError(
            f"no finished or diverged runs in {store_dir} match the filters ({shown}); run a sweep "
            f"first or change filters.task / filters.sweep / filters.tags."
        )
    return runs, metrics[metrics["run_id"].isin(runs["run_id"])] if not metrics.empty else metrics
