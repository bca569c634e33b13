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
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=9)
    fig.suptitle(title(runs, "training curves, mean ± 1 std over seeds at each optimizer's best lr"))
    fig.tight_layout()
    return fig


def lr_sensitivity(runs: pd.DataFrame):
    """Final eval metric vs lr per optimizer (left) and vs lr relative to each optimizer's best lr (right, where
    the optimizers' curves line up and their widths compare): seeds as dots, the mean as a line, diverged runs as x
    at the bottom."""
    metric = runs["metric_name"].iloc[0]
    fig, axes = plt.subplots(1, 2, figsize=(14, 4.8))
    finite = runs.loc[runs["status"] == "finished", "final_metric"].dropna()
    floor = finite.min() if not finite.empty else 0.0
    for ax, relative in zip(axes, (False, True), strict=True):
        for name, group in runs.groupby("optimizer", sort=False):
            c = color(name)
            scale = best_lr(group) if relative else 1.0
            ok = group[group["status"] == "finished"]
            ax.scatter(ok["lr"] / scale, ok["final_metric"], color=c, s=14, alpha=0.7)
            mean = ok.groupby("lr")["final_metric"].mean()
            ax.plot(mean.index / scale, mean.values, "-", color=c, label=name if not relative else None)
            bad = group[group["status"] == "diverged"]
            if not bad.empty:
                ax.scatter(bad["lr"] / scale, [floor] * len(bad), marker="x", color=c, s=40)
        ax.set(xscale="log", ylabel=f"final {metric}")
        ax.grid(alpha=0.3, which="both")
    axes[0].set(xlabel="learning rate", title="final metric vs learning rate")
    axes[1].axvline(1.0, color="0.5", lw=0.8)
    axes[1].set(xlabel="learning rate / the optimizer's best", title="relative to each optimizer's best lr")
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=9, title="x = diverged")
    fig.suptitle(title(runs, "learning-rate sensitivity; dots: seeds, lines: mean over seeds"))
    fig.tight_layout()
    return fig


def _bars(ax, names, values, errors=None, ylabel=""):
    ax.bar(names, values, yerr=errors, color=[color(n) for n in names], capsize=3)
    ax.set_ylabel(ylabel)
    ax.tick_params(axis="x", rotation=30)
    ax.grid(alpha=0.3, axis="y")


def _unit(top: float) -> tuple[str, float]:
    """The binary unit that shows ``top`` bytes as a number between 1 and 1024."""
    for unit, scale in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if top >= scale:
            return unit, scale
    return "B", 1


def memory(runs: pd.DataFrame):
    """Per optimizer: the training step's peak tensor memory stacked by category (where the runs measured it),
    optimizer-state bytes (bars measured, ticks analytic), and the process peak (CUDA max allocated or peak RSS)."""
    from optbench.report.memory_table import COLUMN, SHOWN

    g = runs.groupby("optimizer", sort=False)
    names = list(g.groups)
    split = all(f"mem_{c}_bytes" in runs for c in SHOWN) and runs["mem_peak_bytes"].notna().any()
    fig, axes = plt.subplots(1, 3 if split else 2, figsize=(17 if split else 12, 4.6))
    axes = list(axes)
    if split:
        ax = axes.pop(0)
        means = {c: g[f"mem_{c}_bytes"].mean() for c in SHOWN}
        unit, scale = _unit(float(g["mem_peak_bytes"].mean().max()))
        bottom = np.zeros(len(names))
        for c in SHOWN:
            values = means[c].reindex(names).fillna(0).to_numpy(dtype=float) / scale
            ax.bar(names, values, bottom=bottom, color=CATEGORY_COLORS[c], label=COLUMN[c])
            bottom += values
        ax.set_ylabel(f"tracked tensor memory ({unit})")
        ax.tick_params(axis="x", rotation=30)
        ax.grid(alpha=0.3, axis="y")
        handles, labels = ax.get_legend_handles_labels()
        ax.set_ylim(0, bottom.max() * 1.3)
        ax.legend(handles, labels, fontsize=7, ncol=3, loc="upper center")
        ax.set_title("training-step peak by category (MemTracker)", fontsize=10)
    measured = g["state_bytes"].first()
    unit, scale = _unit(float(measured.max()))
    _bars(axes[0], names, measured.values / scale, ylabel=f"optimizer state ({unit})")
    for x, value in enumerate(measured):
        axes[0].annotate(
            human_bytes(value), (x, measured.max() / scale * 0.02 + value / scale), ha="center", fontsize=7
        )
    analytic = g["state_bytes_analytic"].first() / scale
    axes[0].scatter(names, analytic.values, marker="_", s=600, color="black", zorder=3, label="analytic")
    axes[0].legend(fontsize=8)
    axes[0].set_title("optimizer state (bars measured, ticks analytic)", fontsize=10)
    cuda = runs["cuda_max_allocated_bytes"].notna().any() if "cuda_max_allocated_bytes" in runs else False
    key, what = (
        ("cuda_max_allocated_bytes", "CUDA max allocated")
        if cuda
        else ("peak_rss_bytes", "process peak RSS (data and runtime included)")
    )
    peak = g[key].mean()
    unit, scale = _unit(float(peak.max()))
    _bars(axes[1], names, peak.values / scale, g[key].std().values / scale, ylabel=f"{what.split(' (')[0]} ({unit})")
    if cuda or not split:  # on the CPU the tensors are a sliver of the process: the first panel shows them
        tensors = g["tensor_bytes"].mean() / scale
        axes[1].scatter(names, tensors.values, marker="_", s=600, color="black", zorder=3, label="params+grads+state")
        axes[1].legend(fontsize=8)
    axes[1].set_title(f"{what}; whiskers: ±1 std over runs", fontsize=10)
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
    axes[0].set_title(f"training throughput ({unit}/s, timed steps only); whiskers: ±1 std over runs", fontsize=10)
    _bars(
        axes[1],
        names,
        g["opt_step_time_s"].mean().values * 1e3,
        g["opt_step_time_s"].std().values * 1e3,
        ylabel="optimizer step (ms)",
    )
    axes[1].set_title("optimizer step time; whiskers: ±1 std over runs", fontsize=10)
    fig.suptitle(title(done, "throughput"))
    fig.tight_layout()
    return fig


CATEGORY_COLORS = {
    "params": "#4c72b0",
    "grads": "#55a868",
    "state": "#c44e52",
    "step_temporaries": "#dd8452",
    "activations": "#8172b3",
    "temporaries": "#937860",
}


def memory_split(table: pd.DataFrame, caption: str):
    """One model's training-step peak per optimizer, stacked by category, one panel per precision; the
    accelerator sizes of memory_table.FITS_GIB drawn where they are in range."""
    from optbench.report.memory_table import COLUMN, FITS_GIB, SHOWN

    precisions = list(dict.fromkeys(table["precision"]))
    top = float(table["peak_bytes"].max())
    unit, scale = _unit(top)
    fig, axes = plt.subplots(1, len(precisions), figsize=(4.6 * len(precisions), 4.8), sharey=True, squeeze=False)
    for ax, precision in zip(axes[0], precisions, strict=True):
        rows = table[table["precision"] == precision]
        names = list(rows["optimizer"])
        bottom = np.zeros(len(rows))
        for c in SHOWN:
            values = rows[f"{c}_bytes"].to_numpy(dtype=float) / scale
            ax.bar(names, values, bottom=bottom, color=CATEGORY_COLORS[c], label=COLUMN[c], width=0.7)
            bottom += values
        for gib in FITS_GIB:
            level = gib * 2**30 / scale
            if unit == "GiB" and level <= 1.6 * top / scale:
                ax.axhline(level, color="black", lw=0.8, ls="--")
                ax.text(len(names) - 0.5, level, f" {gib} GiB", va="bottom", ha="right", fontsize=7)
        ax.set_title(precision, fontsize=10)
        ax.tick_params(axis="x", rotation=40, labelsize=8)
        ax.grid(alpha=0.3, axis="y")
    axes[0][0].set_ylabel(f"peak training-step memory ({unit})")
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles[::-1], labels[::-1], loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=9)
    fig.suptitle(caption, fontsize=10)
    fig.tight_layout()
    return fig


def pareto_front(x: list[float], y: list[float], higher_is_better: bool) -> list[int]:
    """Indices of the points no other point beats: less or equal x (cost) and a y at least as good, one of the two
    strictly; sorted by x."""
    sign = 1.0 if higher_is_better else -1.0
    front = []
    for i in range(len(x)):
        beaten = any(
            x[j] <= x[i] and sign * y[j] >= sign * y[i] and (x[j] < x[i] or sign * y[j] > sign * y[i])
            for j in range(len(x))
        )
        if not beaten:
            front.append(i)
    return sorted(front, key=lambda i: x[i])


def pareto(runs: pd.DataFrame):
    """Final metric against peak training memory and against training time, one point per optimizer at its best
    lr (mean over seeds, whiskers ±1 std), the Pareto front dashed: which optimizer, at what memory and time."""
    metric = runs["metric_name"].iloc[0]
    higher = frame_direction(runs)
    best = runs_at_best_lr(runs)
    done = best[best["status"] == "finished"]
    memory_key = "mem_peak_bytes" if "mem_peak_bytes" in done and done["mem_peak_bytes"].notna().all() else None
    memory_key = memory_key or "tensor_bytes"
    memory_what = "peak training-step memory" if memory_key == "mem_peak_bytes" else "params + grads + state"
    g = done.groupby("optimizer", sort=False)
    names = list(g.groups)
    y, y_err = g["final_metric"].mean(), g["final_metric"].std().fillna(0.0)
    top = float(g[memory_key].mean().max())
    unit, scale = _unit(top)
    panels = [
        (g[memory_key].mean() / scale, g[memory_key].std().fillna(0.0) / scale, f"{memory_what} ({unit})", "memory"),
    ]
    if "train_time_s" in done and done["train_time_s"].notna().all():
        times = g["train_time_s"]
        panels.append((times.mean(), times.std().fillna(0.0), "training time (s)", "training time"))
    fig, axes = plt.subplots(1, len(panels), figsize=(6.5 * len(panels), 5), squeeze=False)
    axes = axes[0]
    for ax, (x, x_err, xlabel, what) in zip(axes, panels, strict=True):
        for name in names:
            ax.errorbar(
                x[name],
                y[name],
                xerr=x_err[name],
                yerr=y_err[name],
                fmt="o",
                color=color(name),
                ms=7,
                capsize=3,
                label=f"{name} (lr={g.get_group(name)['lr'].iloc[0]:.3g}, n={len(g.get_group(name))})",
            )
        span_x = max(float(x.max() - x.min()), 1e-12)
        span_y = max(float(y.max() - y.min()), 1e-12)
        placed: list[str] = []
        for name in sorted(names, key=lambda n: (float(x[n]), float(y[n]))):
            near = sum(
                abs(x[o] - x[name]) < 0.03 * span_x and abs(y[o] - y[name]) < 0.03 * span_y for o in placed
            )  # points on top of one another get their labels stacked
            ax.annotate(name, (x[name], y[name]), textcoords="offset points", xytext=(6, 5 + 10 * near), fontsize=8)
            placed.append(name)
        front = pareto_front([float(x[n]) for n in names], [float(y[n]) for n in names], higher)
        ax.plot([x[names[i]] for i in front], [y[names[i]] for i in front], "--", color="0.4", lw=1, zorder=0)
        ax.set(xlabel=xlabel, ylabel=f"final {metric} ({'higher' if higher else 'lower'} is better)")
        ax.grid(alpha=0.3)
        ax.set_title(f"final {metric} vs {what} (dashed: Pareto front)", fontsize=10)
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=9)
    fig.suptitle(title(runs, "which optimizer, at what memory and time; points: mean over seeds, whiskers: ±1 std"))
    fig.tight_layout()
    return fig
