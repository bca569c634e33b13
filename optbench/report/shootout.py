"""The memory-efficient shootout on translation: quality against memory, one row per optimizer.

Each optimizer's lr is the grid's best by the sweep's ``tune_metric`` (validation loss) on the grid seed; the table
shows every seed at that lr: test BLEU mean ± std, the optimizer's state, the training step's peak split by
category (MemTracker, steps 2-3 of each run) and training throughput. The figure puts BLEU against optimizer-state
bytes and against the step's peak.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import matplotlib.ticker
import numpy as np
import pandas as pd

from optbench.memtrack import CATEGORIES
from optbench.report.memory_table import COLUMN, SHOWN
from optbench.report.style import by_family, color, marker
from optbench.report.tables import runs_at_picked_lr
from optbench.units import human_bytes


def picked(runs: pd.DataFrame) -> pd.DataFrame:
    """The runs at each optimizer's picked lr (``tables.picked``: the grid seed's best by the sweep's tune_metric,
    in that score's direction)."""
    return runs_at_picked_lr(runs).reset_index(drop=True)


def _mean_std(values: pd.Series, fmt: str = "{:.2f}") -> str:
    values = values.dropna()
    if values.empty:
        return "-"
    if len(values) == 1:
        return fmt.format(values.iloc[0])
    return f"{fmt.format(values.mean())} ± {fmt.format(values.std())}"


def shootout_table(runs: pd.DataFrame) -> pd.DataFrame:
    """One row per optimizer (best BLEU first): the numbers, unformatted."""
    best = picked(runs)
    rows = []
    for name, group in best.groupby("optimizer", sort=False):
        done = group[group["status"] == "finished"]
        rows.append(
            {
                "optimizer": name,
                "lr": float(group["lr"].iloc[0]),
                "grid": ", ".join(f"{x:.3g}" for x in sorted(runs.loc[runs["optimizer"] == name, "lr"].unique())),
                "n": len(done),
                "diverged": int((group["status"] == "diverged").sum()),
                "bleu_mean": done["final_metric"].mean(),
                "bleu_std": done["final_metric"].std(),
                "bleu": _mean_std(done["final_metric"]),
                "val_loss": _mean_std(done["final_eval_loss"], "{:.3f}") if "final_eval_loss" in done else "-",
                "state_bytes": int(group["state_bytes"].iloc[0]),
                **{f"{c}_bytes": done[f"mem_{c}_bytes"].mean() for c in CATEGORIES if f"mem_{c}_bytes" in done},
                "peak_bytes": done["mem_peak_bytes"].mean() if "mem_peak_bytes" in done else np.nan,
                "tokens_per_s": done["throughput"].mean(),
            }
        )
    return pd.DataFrame(rows).sort_values("bleu_mean", ascending=False, na_position="last").reset_index(drop=True)


def shootout_display(table: pd.DataFrame) -> pd.DataFrame:
    shown = {
        "optimizer": table["optimizer"],
        "lr (grid)": [f"{lr:.3g} ({grid})" for lr, grid in zip(table["lr"], table["grid"], strict=True)],
        "test BLEU": table["bleu"],
        "n": table["n"],
        "val loss": table["val_loss"],
        "optimizer state": table["state_bytes"].map(human_bytes),
    }
    for c in SHOWN:
        if f"{c}_bytes" in table:
            shown[COLUMN[c]] = table[f"{c}_bytes"].map(lambda v: "-" if v != v else human_bytes(int(v)))
    shown["step peak"] = table["peak_bytes"].map(lambda v: "-" if v != v else human_bytes(int(v)))
    shown["tokens/s"] = table["tokens_per_s"].map(lambda v: f"{v:,.0f}")
    if table["diverged"].any():
        shown["diverged"] = table["diverged"]
    return pd.DataFrame(shown)


def quality_vs_memory(table: pd.DataFrame, what: str):
    """Test BLEU (mean ± std over seeds) against optimizer-state bytes (log) and the training step's peak."""
    fig, axes = plt.subplots(1, 2, figsize=(13, 5))
    panels = [
        ("state_bytes", "optimizer state (MiB, log scale)", True),
        ("peak_bytes", "training-step peak (MiB)", False),
    ]
    for ax, (key, xlabel, log) in zip(axes, panels, strict=True):
        for name in by_family(list(table["optimizer"])):
            row = table[table["optimizer"] == name].iloc[0]
            x = row[key] / 2**20
            if x != x:
                continue
            ax.errorbar(
                x,
                row["bleu_mean"],
                yerr=0 if row["n"] < 2 else row["bleu_std"],
                fmt=marker(name),
                ms=8,
                capsize=3,
                color=color(name),
                label=f"{name} (lr={row['lr']:.3g}, n={row['n']})",
            )
            ax.annotate(name, (x, row["bleu_mean"]), textcoords="offset points", xytext=(7, 4), fontsize=8)
        if log:
            ax.set_xscale("log")
            ax.xaxis.set_major_formatter(matplotlib.ticker.FormatStrFormatter("%g"))
        ax.set(xlabel=xlabel, ylabel="test BLEU (higher is better)")
        ax.grid(alpha=0.3, which="both")
    axes[0].set_title("quality vs optimizer state", fontsize=10)
    axes[1].set_title("quality vs peak training-step memory (MemTracker)", fontsize=10)
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=9)
    fig.suptitle(what, fontsize=10)
    fig.tight_layout()
    return fig
