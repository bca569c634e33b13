"""Comparison figures: training curves with seed bands, learning-rate sensitivity, memory and throughput bars.

Every function takes the report frames (one row per run; one row per logged step) and returns a matplotlib figure.
Curves show each optimizer at its best lr (see tables.best_lr); diverged runs are drawn dashed and end in an x at
their last good record.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import matplotlib.ticker
import numpy as np
import pandas as pd

from optbench.ranking import frame_direction
from optbench.report.style import by_family, color, family, line_style, marker
from optbench.report.tables import picked, runs_at_picked_lr
from optbench.units import human_bytes


def hardware_line(runs: pd.DataFrame) -> str:
    first = runs.iloc[0]
    return f"{first['device']}, {first['threads']} threads, torch {first['torch_version']}"


def title(runs: pd.DataFrame, what: str) -> str:
    seeds = runs["seed"].nunique()
    return f"{runs['task'].iloc[0]}: {what} ({seeds} seed{'s' if seeds != 1 else ''}; {hardware_line(runs)})"


def _band(ax, x, mean, std, c, label, log_y=False, ls="-"):
    ax.plot(x, mean, color=c, label=label, lw=1.6, ls=ls)
    if std is not None and np.isfinite(std).any():
        low = mean - std
        if log_y:
            low = np.maximum(low, mean * 0.1)
        ax.fill_between(x, low, mean + std, color=c, alpha=0.2, lw=0)


FACET_ABOVE = 8  # more optimizers than this: one row of panels per family, each with the reference optimizer
REFERENCE = ("adamw", "adam")  # drawn in every family's row, grey, when present


def facets(names: list[str]) -> list[tuple[str, list[str]]]:
    """(row title, optimizers) for a figure: one row for few optimizers, else one per family (see style.py)."""
    names = by_family(names)
    if len(names) <= FACET_ABOVE:
        return [("", names)]
    rows: dict[str, list[str]] = {}
    for name in names:
        rows.setdefault(family(name), []).append(name)
    return list(rows.items())


def reference_for(names: list[str], row: list[str]) -> str | None:
    """The optimizer drawn in grey in a family's row (AdamW, else Adam), unless it is in that row already."""
    for ref in REFERENCE:
        if ref in names and ref not in row:
            return ref
    return None


def _curves_of(axes, name, group, metrics, metric, reference=False) -> None:
    c = (0.55, 0.55, 0.55, 1.0) if reference else color(name)
    lr = group["lr"].iloc[0]
    ok = group[group["status"] == "finished"]["run_id"]
    train = metrics[(metrics["split"] == "train") & metrics["run_id"].isin(ok)]
    label = f"{name} (lr={lr:.3g}, n={len(ok)})" + (", reference" if reference else "")
    ls = (0, (1, 1)) if reference else line_style(name)
    if not train.empty:
        agg = train.groupby("step").agg(loss=("loss", "mean"), std=("loss", "std"), t=("train_s", "mean"))
        _band(axes[0], agg.index, agg["loss"], None if reference else agg["std"], c, label, log_y=True, ls=ls)
        _band(axes[1], agg["t"], agg["loss"], None if reference else agg["std"], c, label, log_y=True, ls=ls)
    evals = metrics[metrics["split"].isin(["eval", "test"]) & metrics["run_id"].isin(ok)]
    if not evals.empty and metric in evals:
        agg = evals.groupby("step")[metric].agg(["mean", "std"])
        _band(axes[2], agg.index, agg["mean"], None if reference else agg["std"], c, label, ls=ls)
        axes[2].plot(agg.index, agg["mean"], "o", color=c, ms=3)
    if reference:
        return
    for rid in group[group["status"] == "diverged"]["run_id"]:  # marked, not dropped
        rows = metrics[(metrics["run_id"] == rid) & (metrics["split"] == "train")]
        if "diverged" in rows:  # the bad loss itself (NaN, inf or 1e30) would flatten every other curve
            rows = rows[rows["diverged"].fillna(False).astype(bool) == False]  # noqa: E712
        if not rows.empty:
            axes[0].plot(rows["step"], rows["loss"], "--", color=c, lw=1)
            axes[0].plot(rows["step"].iloc[-1], rows["loss"].iloc[-1], "x", color=c, ms=9, mew=2)
        axes[0].plot([], [], "x", color=c, label=f"{name}: diverged run")


def curves(runs: pd.DataFrame, metrics: pd.DataFrame):
    """Train loss vs step and vs training seconds, and the eval metric vs step; with many optimizers one row per
    family, each beside the reference optimizer (grey, dashed)."""
    metric = runs["metric_name"].iloc[0]
    best = runs_at_picked_lr(runs)
    groups = {name: g for name, g in best.groupby("optimizer", sort=False)}
    rows = facets(list(groups))
    fig, grid = plt.subplots(len(rows), 3, figsize=(16, 4.6 if len(rows) == 1 else 2.9 * len(rows)), squeeze=False)
    for axes, (fam, names) in zip(grid, rows, strict=True):
        ref = reference_for(list(groups), names) if len(rows) > 1 else None
        if ref is not None:
            _curves_of(axes, ref, groups[ref], metrics, metric, reference=True)
        for name in names:
            _curves_of(axes, name, groups[name], metrics, metric)
        axes[0].set(ylabel="train loss", yscale="log")
        axes[1].set(yscale="log")
        axes[2].set(ylabel=metric)
        for ax in axes:
            ax.grid(alpha=0.3, which="both")
        if len(rows) > 1:
            axes[0].set_title(fam, loc="left", fontsize=10, fontweight="bold")
            handles, labels = axes[0].get_legend_handles_labels()
            axes[2].legend(handles, labels, loc="center left", bbox_to_anchor=(1.02, 0.5), fontsize=8)
    top, bottom = grid[0], grid[-1]
    for ax, what in zip(top, ("train loss vs step", "train loss vs time", f"{metric} vs step"), strict=True):
        ax.set_title(what if len(rows) == 1 else f"{' ' * 30}{what}", fontsize=10)
    for ax, xlabel in zip(bottom, ("step", "training time (s)", "step"), strict=True):
        ax.set_xlabel(xlabel)
    if len(rows) == 1:
        handles, labels = grid[0][0].get_legend_handles_labels()
        fig.legend(handles, labels, loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=9)
    fig.suptitle(title(runs, "training curves, mean ± 1 std over seeds at each optimizer's best lr"))
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.4 / fig.get_figheight()))  # room for the suptitle
    return fig


def lr_sensitivity(runs: pd.DataFrame):
    """Final eval metric vs lr per optimizer (left) and vs lr relative to each optimizer's best lr (right, where
    the optimizers' curves line up and their widths compare): seeds as dots, the mean as a line, diverged runs as x
    at the bottom. With many optimizers, one row per family."""
    metric = runs["metric_name"].iloc[0]
    groups = {name: g for name, g in runs.groupby("optimizer", sort=False)}
    rows = facets(list(groups))
    fig, grid = plt.subplots(
        len(rows), 2, figsize=(14, 4.8 if len(rows) == 1 else 2.9 * len(rows)), squeeze=False, sharey="row"
    )
    finite = runs.loc[runs["status"] == "finished", "final_metric"].dropna()
    floor = finite.min() if not finite.empty else 0.0
    for axes, (fam, names) in zip(grid, rows, strict=True):
        for ax, relative in zip(axes, (False, True), strict=True):
            for name in names:
                group, c = groups[name], color(name)
                scale = picked(group) if relative else 1.0
                ok = group[group["status"] == "finished"]
                ax.scatter(ok["lr"] / scale, ok["final_metric"], color=c, s=14, alpha=0.7)
                mean = ok.groupby("lr")["final_metric"].mean()
                ax.plot(mean.index / scale, mean.values, ls=line_style(name), color=c, label=None if relative else name)
                bad = group[group["status"] == "diverged"]
                if not bad.empty:
                    ax.scatter(bad["lr"] / scale, [floor] * len(bad), marker="x", color=c, s=40)
            ax.set(xscale="log")
            ax.grid(alpha=0.3, which="both")
        axes[0].set(ylabel=f"final {metric}")
        axes[1].axvline(1.0, color="0.5", lw=0.8)
        if len(rows) > 1:
            axes[0].set_title(fam, loc="left", fontsize=10, fontweight="bold")
            handles, labels = axes[0].get_legend_handles_labels()
            axes[1].legend(handles, labels, loc="center left", bbox_to_anchor=(1.02, 0.5), fontsize=8)
    grid[0][0].set_title(("" if len(rows) == 1 else " " * 40) + "final metric vs learning rate", fontsize=10)
    grid[0][1].set_title("relative to each optimizer's best lr", fontsize=10)
    grid[-1][0].set(xlabel="learning rate")
    grid[-1][1].set(xlabel="learning rate / the optimizer's best")
    if len(rows) == 1:
        handles, labels = grid[0][0].get_legend_handles_labels()
        fig.legend(handles, labels, loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=9, title="x = diverged")
    fig.suptitle(title(runs, "learning-rate sensitivity; dots: seeds, lines: mean over seeds; x = diverged"))
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.4 / fig.get_figheight()))  # room for the suptitle
    return fig


def nonnegative_whiskers(mean, std):
    """Whiskers of ±``std`` around ``mean`` for a quantity that cannot be negative (a time, a rate, bytes): the
    lower one stops at 0. Returns matplotlib's (2, n) form (lower lengths, upper lengths); None without spreads."""
    if std is None:
        return None
    mean = np.atleast_1d(np.asarray(mean, dtype=float))
    std = np.nan_to_num(np.atleast_1d(np.asarray(std, dtype=float)))
    return np.vstack([np.minimum(std, np.clip(mean, 0.0, None)), std])


def _bars(ax, names, values, errors=None, ylabel=""):
    whiskers = nonnegative_whiskers(values, errors)
    ax.bar(names, values, yerr=whiskers, color=[color(n) for n in names], capsize=3)
    ax.set_ylabel(ylabel)
    _name_ticks(ax, names)
    ax.grid(alpha=0.3, axis="y")


def _name_ticks(ax, names) -> None:
    """Optimizer names under bars: slanted, smaller as there are more of them."""
    ax.set_xticks(range(len(names)))
    ax.set_xticklabels(
        names, rotation=30 if len(names) <= 10 else 60, ha="right", fontsize=9 if len(names) <= 10 else 7
    )


def bar_width(n: int, panels: int) -> float:
    """Figure width for ``panels`` bar panels of ``n`` optimizers each."""
    return max(6.0, 0.32 * n + 2.0) * panels


def bar_panels(n: int, panels: int, width: float, height: float):
    """(fig, axes) for ``panels`` bar panels of ``n`` optimizers: side by side for a few optimizers, stacked
    (one full-width panel per row, readable on a page) past FACET_ABOVE."""
    if n <= FACET_ABOVE:
        fig, axes = plt.subplots(1, panels, figsize=(max(width, bar_width(n, panels)), height))
    else:
        fig, axes = plt.subplots(panels, 1, figsize=(bar_width(n, 1), height * panels))
    return fig, list(np.atleast_1d(axes))


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
    names = by_family(list(g.groups))
    split = all(f"mem_{c}_bytes" in runs for c in SHOWN) and runs["mem_peak_bytes"].notna().any()
    panels = 3 if split else 2
    fig, axes = bar_panels(len(names), panels, 17 if split else 12, 4.6)
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
        _name_ticks(ax, names)
        ax.grid(alpha=0.3, axis="y")
        handles, labels = ax.get_legend_handles_labels()
        ax.set_ylim(0, bottom.max() * 1.3)
        ax.legend(handles, labels, fontsize=7, ncol=3, loc="upper center")
        ax.set_title("training-step peak by category (MemTracker)", fontsize=10)
    measured = g["state_bytes"].first().reindex(names)
    unit, scale = _unit(float(measured.max()))
    _bars(axes[0], names, measured.values / scale, ylabel=f"optimizer state ({unit})")
    for x, value in enumerate(measured):
        axes[0].annotate(
            human_bytes(value),
            (x, measured.max() / scale * 0.02 + value / scale),
            ha="center",
            fontsize=7 if len(names) <= 10 else 5,
            rotation=0 if len(names) <= 10 else 90,
        )
    analytic = g["state_bytes_analytic"].first().reindex(names) / scale
    axes[0].scatter(names, analytic.values, marker="_", s=600, color="black", zorder=3, label="analytic")
    axes[0].legend(fontsize=8)
    axes[0].set_title("optimizer state (bars measured, ticks analytic)", fontsize=10)
    cuda = runs["cuda_max_allocated_bytes"].notna().any() if "cuda_max_allocated_bytes" in runs else False
    key, what = (
        ("cuda_max_allocated_bytes", "CUDA max allocated")
        if cuda
        else ("peak_rss_bytes", "process peak RSS (data and runtime included)")
    )
    peak = g[key].mean().reindex(names)
    unit, scale = _unit(float(peak.max()))
    spread = g[key].std().reindex(names).values / scale
    _bars(axes[1], names, peak.values / scale, spread, ylabel=f"{what.split(' (')[0]} ({unit})")
    if cuda or not split:  # on the CPU the tensors are a sliver of the process: the first panel shows them
        tensors = g["tensor_bytes"].mean().reindex(names) / scale
        axes[1].scatter(names, tensors.values, marker="_", s=600, color="black", zorder=3, label="params+grads+state")
        axes[1].legend(fontsize=8)
    axes[1].set_title(f"{what}; whiskers: ±1 std over runs", fontsize=10)
    fig.suptitle(title(runs, "memory"))
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.4 / fig.get_figheight()))  # room for the suptitle
    return fig


def throughput(runs: pd.DataFrame):
    """Training throughput and optimizer-step time per optimizer (mean ± std over runs)."""
    unit = runs["unit"].iloc[0]
    done = runs[runs["status"] == "finished"]
    g = done.groupby("optimizer", sort=False)
    names = by_family(list(g.groups))
    fig, axes = bar_panels(len(names), 2, 12, 4.4)
    speed = g["throughput"]
    _bars(axes[0], names, speed.mean()[names].values, speed.std()[names].values, ylabel=f"{unit}/s")
    axes[0].set_title(f"training throughput ({unit}/s, timed steps only); whiskers: ±1 std over runs", fontsize=10)
    step = g["opt_step_time_s"]
    _bars(axes[1], names, step.mean()[names].values * 1e3, step.std()[names].values * 1e3, ylabel="optimizer step (ms)")
    axes[1].set_title("optimizer step time; whiskers: ±1 std over runs", fontsize=10)
    fig.suptitle(title(done, "throughput"))
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.4 / fig.get_figheight()))  # room for the suptitle
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
    n = int(table["optimizer"].nunique())
    if n <= FACET_ABOVE:  # panels side by side
        fig, axes = plt.subplots(1, len(precisions), figsize=(4.6 * len(precisions), 4.8), sharey=True, squeeze=False)
        axes, rotation = list(axes[0]), 40
    else:  # one full-width panel per precision, stacked, so each optimizer's name has room
        fig, axes = plt.subplots(len(precisions), 1, figsize=(bar_width(n, 1), 3.4 * len(precisions)), squeeze=False)
        axes, rotation = list(axes[:, 0]), 55
    for ax, precision in zip(axes, precisions, strict=True):
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
        ax.tick_params(axis="x", rotation=rotation, labelsize=8)
        plt.setp(ax.get_xticklabels(), ha="right", rotation_mode="anchor")
        ax.set_ylim(0, 1.05 * top / scale)
        ax.grid(alpha=0.3, axis="y")
    for ax in axes if rotation != 40 else axes[:1]:
        ax.set_ylabel(f"peak step memory ({unit})")
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles[::-1], labels[::-1], loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=9)
    fig.suptitle(caption, fontsize=10)
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.4 / fig.get_figheight()))  # room for the suptitle
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


LABEL_PT = 290.0  # points per unit of axis height, for a 5-inch figure (label offsets are in points)


def place_labels(ax, names, x, y, px, py) -> None:
    """Name each point, moving a label up until its box (in axis fractions, about 0.011 per character at
    fontsize 8) clears every label placed before it."""
    boxes: list[tuple[float, float, float, float]] = []
    for name in sorted(names, key=lambda n: (float(py[n]), float(px[n]))):
        width, height = 0.011 * len(name), 0.04
        left, bottom = float(px[name]) + 0.01, float(py[name]) + 0.015
        for _ in range(12):
            if not any(
                left < r and left + width > lft and bottom < t and bottom + height > b for lft, b, r, t in boxes
            ):
                break
            bottom += height
        boxes.append((left, bottom, left + width, bottom + height))
        dy = (bottom - float(py[name])) * LABEL_PT * 0.8
        moved = dy > 20  # pushed up past its neighbours' labels: a thin line leads back to the point
        arrow = {"arrowstyle": "-", "lw": 0.5, "color": "0.5", "shrinkA": 0, "shrinkB": 3} if moved else None
        ax.annotate(name, (x[name], y[name]), textcoords="offset points", xytext=(6, dy), fontsize=8, arrowprops=arrow)


LABEL_ALL_UP_TO = 12  # more points than this: name only the Pareto front and the extremes (the legend has all)


def labelled(names: list[str], x, y, front: list[int], higher: bool) -> list[str]:
    """The points a crowded panel names: its Pareto front, and the two best and two worst by the metric."""
    if len(names) <= LABEL_ALL_UP_TO:
        return names
    ranked = sorted(names, key=lambda n: float(y[n]), reverse=higher)
    keep = {names[i] for i in front} | set(ranked[:2]) | set(ranked[-2:])
    return [n for n in names if n in keep]


def pareto(runs: pd.DataFrame):
    """Final metric against peak training memory and against training time, one point per optimizer at its best
    lr (mean over seeds, whiskers ±1 std), the Pareto front dashed: which optimizer, at what memory and time."""
    metric = runs["metric_name"].iloc[0]
    higher = frame_direction(runs)
    best = runs_at_picked_lr(runs)
    done = best[best["status"] == "finished"]
    memory_key = "mem_peak_bytes" if "mem_peak_bytes" in done and done["mem_peak_bytes"].notna().all() else None
    memory_key = memory_key or "tensor_bytes"
    memory_what = "peak training-step memory" if memory_key == "mem_peak_bytes" else "params + grads + state"
    g = done.groupby("optimizer", sort=False)
    names = by_family(list(g.groups))
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
                xerr=nonnegative_whiskers(x[name], x_err[name]),  # memory and time cannot be negative
                yerr=y_err[name],
                fmt=marker(name),
                color=color(name),
                ms=7,
                capsize=3,
                label=f"{name} (lr={g.get_group(name)['lr'].iloc[0]:.3g}, n={len(g.get_group(name))})",
            )
        log_x = float(x.min()) > 0 and float(x.max()) / float(x.min()) > 8  # a wide range: spread the cluster
        if log_x:
            ax.set_xscale("log")
            ax.xaxis.set_major_formatter(matplotlib.ticker.FormatStrFormatter("%g"))
            ax.xaxis.set_minor_formatter(matplotlib.ticker.FormatStrFormatter("%g"))
        span_x = max(float(x.max() - x.min()), 1e-12)
        # where each point sits across the axis, 0 to 1, on the axis' own scale
        px = np.log(x / x.min()) / np.log(x.max() / x.min()) if log_x else (x - x.min()) / span_x
        span_y = max(float(y.max() - y.min()), 1e-12)
        py = (y - y.min()) / span_y
        front = pareto_front([float(x[n]) for n in names], [float(y[n]) for n in names], higher)
        place_labels(ax, labelled(names, x, y, front, higher), x, y, px, py)
        ax.plot([x[names[i]] for i in front], [y[names[i]] for i in front], "--", color="0.4", lw=1, zorder=0)
        ax.set(
            xlabel=xlabel + (", log scale" if log_x else ""),
            ylabel=f"final {metric} ({'higher' if higher else 'lower'} is better)",
        )
        ax.grid(alpha=0.3)
        named = "" if len(names) <= LABEL_ALL_UP_TO else "; named: front, extremes"
        ax.set_title(f"final {metric} vs {what} (dashed: Pareto front{named})", fontsize=10)
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=9)
    fig.suptitle(title(runs, "which optimizer, at what memory and time; points: mean over seeds, whiskers: ±1 std"))
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.4 / fig.get_figheight()))  # room for the suptitle
    return fig
