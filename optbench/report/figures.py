"""Comparison figures: training curves with seed bands, learning-rate sensitivity, memory and throughput bars.

Every function takes the report frames (one row per run; one row per logged step) and returns a matplotlib figure.
Curves show each optimizer at its best lr (see tables.best_lr); diverged runs are drawn dashed and end in an x at
their last good record.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from optbench.ranking import frame_direction
from optbench.report.style import color
from optbench.report.tables import best_lr
from optbench.units import human_bytes


def hardware_line(runs: pd.DataFrame) -> str:
    first = runs.iloc[0]
    return f"{first['device']}, {first['threads']} threads, torch {first['torch_version']}"


def title(runs: pd.DataFrame, what: str) -> str:
    seeds = runs["seed"].nunique()
    return f"{runs['task'].iloc[0]}: {what} ({seeds} seed{'s' if seeds != 1 else ''}; {hardware_line(runs)})"


def runs_at_best_lr(runs: pd.DataFrame) -> pd.DataFrame:
    return pd.concat([g[g["lr"] == best_lr(g)] for _, g in runs.groupby("optimizer", sort=False)])


def _band(ax, x, mean, std, c, label, log_y=False):
    ax.plot(x, mean, color=c, label=label, lw=1.6)
    if std is not None and np.isfinite(std).any():
        low = mean - std
        if log_y:
            low = np.maximum(low, mean * 0.1)
        ax.fill_between(x, low, mean + std, color=c, alpha=0.2, lw=0)


def curves(runs: pd.DataFrame, metrics: pd.DataFrame):
    """Train loss vs step and vs training seconds, and the eval metric vs step."""
    metric = runs["metric_name"].iloc[0]
    fig, axes = plt.subplots(1, 3, figsize=(16, 4.6))
    for name, group in runs_at_best_lr(runs).groupby("optimizer", sort=False):
        c, lr = color(name), group["lr"].iloc[0]
        ok = group[group["status"] == "finished"]["run_id"]
        train = metrics[(metrics["split"] == "train") & metrics["run_id"].isin(ok)]
        label = f"{name} (lr={lr:.3g}, n={len(ok)})"
        if not train.empty:
            agg = train.groupby("step").agg(loss=("loss", "mean"), std=("loss", "std"), t=("train_s", "mean"))
            _band(axes[0], agg.index, agg["loss"], agg["std"], c, label, log_y=True)
            _band(axes[1], agg["t"], agg["loss"], agg["std"], c, label, log_y=True)
        evals = metrics[metrics["split"].isin(["eval", "test"]) & metrics["run_id"].isin(ok)]
        if not evals.empty and metric in evals:
            agg = evals.groupby("step")[metric].agg(["mean", "std"])
            _band(axes[2], agg.index, agg["mean"], agg["std"], c, label)
            axes[2].plot(agg.index, agg["mean"], "o", color=c, ms=3)
        for rid in group[group["status"] == "diverged"]["run_id"]:  # marked, not dropped
            rows = metrics[(metrics["run_id"] == rid) & (metrics["split"] == "train")]
            if "diverged" in rows:  # the bad loss itself (NaN, inf or 1e30) would flatten every other curve
                rows = rows[rows["diverged"].fillna(False).astype(bool) == False]  # noqa: E712
            if not rows.empty:
                axes[0].plot(rows["step"], rows["loss"], "--", color=c, lw=1)
                axes[0].plot(rows["step"].iloc[-1], rows["loss"].iloc[-1], "x", color=c, ms=9, mew=2)
            axes[0].plot([], [], "x", color=c, label=f"{name}: diverged run")
    axes[0].set(xlabel="step", ylabel="train loss", yscale="log", title="train loss vs step")
    axes[1].set(xlabel="training time (s)", ylabel="train loss", yscale="log", title="train loss vs time")
    axes[2].set(xlabel="step", ylabel=metric, title=f"{metric} vs step")
    for ax in axes:
        ax.grid(alpha=0.3, which="both")
    axes[0].legend(fontsize=7)
    fig.suptitle(title(runs, "training curves, mean ± 1 std over seeds at each optimizer's best lr"))
    fig.tight_layout()
    return fig


def lr_sensitivity(runs: pd.DataFrame):
    """Final eval metric vs lr per optimizer: seeds as dots, mean as a line, diverged runs as x at the bottom.
    The right panel zooms on the best quarter of the finished runs' range."""
    metric = runs["metric_name"].iloc[0]
    fig, axes = plt.subplots(1, 2, figsize=(13, 4.8))
    finite = runs.loc[runs["status"] == "finished", "final_metric"].dropna()
    floor = finite.min() if not finite.empty else 0.0
    for ax in axes:
        for name, group in runs.groupby("optimizer", sort=False):
            c = color(name)
            ok = group[group["status"] == "finished"]
            ax.scatter(ok["lr"], ok["final_metric"], color=c, s=14, alpha=0.7)
            mean = ok.groupby("lr")["final_metric"].mean()
            ax.plot(mean.index, mean.values, "-", color=c, label=name)
            bad = group[group["status"] == "diverged"]
            if not bad.empty:
                ax.scatter(bad["lr"], [floor] * len(bad), marker="x", color=c, s=40)
        ax.set(xscale="log", xlabel="learning rate", ylabel=f"final {metric}")
        ax.grid(alpha=0.3, which="both")
    if not finite.empty:
        higher_is_better = frame_direction(runs)
        low = finite.quantile(0.75) if higher_is_better else finite.min()
        high = finite.max() if higher_is_better else finite.quantile(0.25)
        span = max(high - low, 1e-9)
        axes[1].set_ylim(low - 0.1 * span, high + 0.1 * span)
        axes[1].set_title("zoom: best quarter of the finished runs", fontsize=9)
    axes[0].legend(fontsize=8, title="x = diverged", title_fontsize=7)
    axes[0].set_title("all runs", fontsize=9)
    fig.suptitle(title(runs, "learning-rate sensitivity"))
    fig.tight_layout()
    return fig


def _bars(ax, names, values, errors=None, ylabel=""):
    ax.bar(names, values, yerr=errors, color=[color(n) for n in names], capsize=3)
    ax.set_ylabel(ylabel)
    ax.tick_params(axis="x", rotation=30)
    ax.grid(alpha=0.3, axis="y")


def memory(runs: pd.DataFrame):
    """Optimizer-state bytes (bars: measured, black ticks: analytic) and peak memory per optimizer."""
    g = runs.groupby("optimizer", sort=False)
    names = list(g.groups)
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.4))
    measured = g["state_bytes"].first() / 2**20
    analytic = g["state_bytes_analytic"].first() / 2**20
    _bars(axes[0], names, measured.values, ylabel="optimizer state (MiB)")
    for x, value in enumerate(g["state_bytes"].first()):
        axes[0].annotate(human_bytes(value), (x, measured.max() * 0.02 + measured.iloc[x]), ha="center", fontsize=7)
    axes[0].scatter(names, analytic.values, marker="_", s=600, color="black", zorder=3, label="analytic")
    axes[0].legend()
    axes[0].set_title("optimizer-state memory (measured; analytic marked)")
    cuda = runs["cuda_max_allocated_bytes"].notna().any() if "cuda_max_allocated_bytes" in runs else False
    key, what = ("cuda_max_allocated_bytes", "CUDA max allocated") if cuda else ("peak_rss_bytes", "process peak RSS")
    peak = g[key].mean() / 2**20
    _bars(axes[1], names, peak.values, g[key].std().values / 2**20, ylabel=f"{what} (MiB)")
    tensors = g["tensor_bytes"].mean() / 2**20
    axes[1].scatter(names, tensors.values, marker="_", s=600, color="black", zorder=3, label="params + grads + state")
    axes[1].legend()
    axes[1].set_title(f"peak memory ({what})")
    fig.suptitle(title(runs, "memory"))
    fig.tight_layout()
    return fig


def throughput(runs: pd.DataFrame):
    """Training throughput and optimizer-step time per optimizer (mean ± std over runs)."""
    unit = runs["unit"].iloc[0]
    done = runs[runs["status"] == "finished"]
    g = done.groupby("optimizer", sort=False)
    names = list(g.groups)
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.4))
    _bars(axes[0], names, g["throughput"].mean().values, g["throughput"].std().values, ylabel=f"{unit}/s")
    axes[0].set_title(f"training throughput ({unit}/s, timed steps only)")
    _bars(
        axes[1],
        names,
        g["opt_step_time_s"].mean().values * 1e3,
        g["opt_step_time_s"].std().values * 1e3,
        ylabel="optimizer step (ms)",
    )
    axes[1].set_title("optimizer step time")
    fig.suptitle(title(done, "throughput"))
    fig.tight_layout()
    return fig
