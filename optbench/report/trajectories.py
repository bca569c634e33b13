"""Trajectory galleries for the 2-D test functions: each optimizer's path at its tuned lr over a contour map."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
from matplotlib.colors import LogNorm

from optbench.ranking import frame_direction, sort_best_first
from optbench.report.style import color
from optbench.report.tables import runs_at_picked_lr
from optbench.tasks.functions2d import FUNCTIONS

CAPTION = (
    "Each optimizer at the lr (log grid) with the best final function value. Adafactor treats the 2-vector "
    "as a vector: its second moment is unfactored, and its relative step is scaled by RMS(x)."
)


def best_runs(runs: pd.DataFrame) -> pd.DataFrame:
    """Per optimizer, at the lr its tuning picked (``tables.runs_at_picked_lr``), the finished run with the best
    final value in the task's direction (the lowest, for the 2-D functions)."""
    at = runs_at_picked_lr(runs)
    done = sort_best_first(at[at["status"] == "finished"], "final_metric", frame_direction(runs))
    return done.groupby("optimizer", sort=False).head(1).set_index("optimizer")


def path(metrics: pd.DataFrame, run: pd.Series) -> np.ndarray:
    rows = metrics[(metrics["run_id"] == run["run_id"]) & (metrics["split"] == "train")].sort_values("step")
    start = np.array([[run["task.start"][0], run["task.start"][1]]])
    return np.concatenate([start, rows[["x", "y"]].to_numpy()])


def contour(ax, run: pd.Series) -> None:
    (x0, x1), (y0, y1) = run["task.plot_range"]
    xs, ys = np.meshgrid(np.linspace(x0, x1, 300), np.linspace(y0, y1, 300))
    # function parameters from the flattened config; runs of other functions leave NaN in columns not theirs
    kwargs = {k.split(".")[-1]: float(v) for k, v in run.items() if k.startswith("task.params.") and pd.notna(v)}
    z = FUNCTIONS[run["task.function"]](torch.tensor(np.stack([xs, ys], -1)), **kwargs).numpy()
    z = z - z.min() + 1.0  # log-spaced levels over 1 + (f - min f)
    ax.contourf(
        xs,
        ys,
        z,
        levels=np.logspace(np.log10(z.min()), np.log10(z.max()), 30),
        norm=LogNorm(),
        cmap="Greys_r",
        alpha=0.9,
    )
    ax.contour(
        xs,
        ys,
        z,
        levels=np.logspace(np.log10(z.min()), np.log10(z.max()), 15),
        norm=LogNorm(),
        colors="white",
        linewidths=0.3,
        alpha=0.6,
    )
    ax.set_xlim(x0, x1)
    ax.set_ylim(y0, y1)


def _marks(ax, run: pd.Series) -> None:
    ax.plot(*run["task.start"], "o", color="white", mec="black", ms=8, label="start", zorder=5)
    ax.plot(*run["task.minimum"], "*", color="gold", mec="black", ms=14, label="minimum", zorder=5)


def gallery(runs: pd.DataFrame, metrics: pd.DataFrame):
    best = best_runs(runs)
    n = len(best)
    cols = 4
    fig, axes = plt.subplots(
        (n + cols - 1) // cols, cols, figsize=(4.2 * cols, 4.0 * ((n + cols - 1) // cols)), squeeze=False
    )
    for ax, (name, run) in zip(axes.flat, best.iterrows(), strict=False):
        contour(ax, run)
        xy = path(metrics, run)
        ax.plot(xy[:, 0], xy[:, 1], "-", color=color(name), lw=1.5)
        ax.plot(xy[::10, 0], xy[::10, 1], "o", color=color(name), ms=3)
        ax.plot(xy[-1, 0], xy[-1, 1], "s", color=color(name), mec="black", ms=7, zorder=6)
        _marks(ax, run)
        ax.set_title(f"{name}: lr={run['lr']:.3g}, f={run['final_metric']:.3g}", fontsize=10)
    for ax in list(axes.flat)[n:]:
        ax.axis("off")
    axes.flat[0].legend(loc="upper right", fontsize=7)
    task = runs["task"].iloc[0]
    fig.suptitle(
        f"{task}: {int(best['steps'].iloc[0])} steps from {tuple(best['task.start'].iloc[0])} "
        f"(markers every 10 steps, square = end)\n{CAPTION}",
        fontsize=9,
    )
    fig.tight_layout()
    return fig


def overlay(runs: pd.DataFrame, metrics: pd.DataFrame):
    best = best_runs(runs)
    fig, ax = plt.subplots(figsize=(8, 7))
    contour(ax, best.iloc[0])
    for name, run in best.iterrows():
        xy = path(metrics, run)
        ax.plot(xy[:, 0], xy[:, 1], "-", color=color(name), lw=1.6, label=f"{name} (lr={run['lr']:.3g})")
        ax.plot(xy[-1, 0], xy[-1, 1], "s", color=color(name), mec="black", ms=6)
    _marks(ax, best.iloc[0])
    ax.legend(fontsize=8, loc="upper right")
    ax.set_title(f"{runs['task'].iloc[0]}: all optimizers at their tuned lr\n{CAPTION}", fontsize=8)
    fig.tight_layout()
    return fig
