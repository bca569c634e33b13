"""The Adafactor paper's ablation table (Shazeer & Stern 2018, Table 2), rendered from our runs.

One row per setting, with the settings read back from each run's stored config (so the table shows what ran),
then BLEU with and without warmup (mean ± std over seeds, or "diverged"), and the optimizer-state bytes.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

ROW_ORDER = [
    "adam",
    "adam_beta1_0",
    "factored_beta1_0",
    "fast_decay",
    "clip_d1",
    "clip_d2",
    "clip_factored",
    "decay_c05",
    "decay_c08",
    "decay_c10",
    "decay_c08_clip",
    "relative_step",
]


def _get(row: pd.Series, key: str, default=None):
    value = row.get(key, default)
    return default if value is None or (isinstance(value, float) and np.isnan(value)) else value


def settings(row: pd.Series) -> dict[str, str]:
    """The columns the paper varies, derived from one run's resolved optimizer config."""
    if _get(row, "optimizer.name") == "adafactor":
        beta2 = _get(row, "optimizer.beta2")
        decay = f"beta2 = {beta2:g}" if beta2 is not None else f"1 - t^({_get(row, 'optimizer.decay_rate'):g})"
        clip = _get(row, "optimizer.clip_threshold")
        return {
            "beta1": f"{_get(row, 'optimizer.beta1', 0.0):g}",
            "second-moment decay": decay,
            "clipping d": "none" if clip is None else f"{clip:g}",
            "factored": "yes" if _get(row, "optimizer.factored") else "no",
            "step size": "relative" if _get(row, "optimizer.relative_step") else "lr schedule",
        }
    betas = _get(row, "optimizer.betas", [0.9, 0.999])
    return {
        "beta1": f"{betas[0]:g}",
        "second-moment decay": f"beta2 = {betas[1]:g}",
        "clipping d": "none",
        "factored": "no",
        "step size": "lr schedule",
    }


def _bleu_cell(runs: pd.DataFrame) -> str:
    if runs.empty:
        return "-"
    mean, std, done, diverged = _bleu_values(runs)
    if not done:
        return "diverged"
    cell = f"{mean:.1f}" if done == 1 else f"{mean:.1f} ± {std:.1f}"
    return cell + (f" ({diverged} diverged)" if diverged else "")


def table2(runs: pd.DataFrame) -> tuple[pd.DataFrame, str]:
    """(table, footnote) from the runs of the adafactor_table2 experiment."""
    rows = []
    order = {key: i for i, key in enumerate(ROW_ORDER)}
    for _row, group in sorted(runs.groupby("table2.row"), key=lambda kv: order.get(kv[0], len(order))):
        warm = group[group["table2.warmup"].astype(bool)]
        cold = group[~group["table2.warmup"].astype(bool)]
        rows.append(
            {
                "setting": group["table2.label"].iloc[0],
                **settings(group.iloc[0]),
                "BLEU (warmup)": _bleu_cell(warm),
                "BLEU (no warmup)": _bleu_cell(cold),
                "state bytes": int(group["state_bytes"].iloc[0]),
            }
        )
    signatures = sorted(set(runs["final_bleu_signature"].dropna()))
    first = runs.iloc[0]
    footnote = (
        f"Test BLEU on {first['task']} ({first.get('task.src')}→{first.get('task.tgt')}, test split "
        f"'{first.get('task.splits.test')}', beam {int(first.get('final_beam', 0) or 0)}), "
        f"seeds: {sorted(runs['seed'].unique().tolist())}; sacreBLEU signature: {'; '.join(signatures)}. "
        f"Settings as in Shazeer & Stern (2018), Table 2; BLEU values are ours, not the paper's."
    )
    return pd.DataFrame(rows), footnote


def _bleu_values(runs: pd.DataFrame) -> tuple[float, float, int, int]:
    """(mean, std, finished, diverged) of one cell's runs; NaN mean when none finished."""
    done = runs[runs["status"] == "finished"]["final_metric"].astype(float)
    std = float(done.std(ddof=1)) if len(done) > 1 else 0.0
    return float(done.mean()) if len(done) else float("nan"), std, len(done), int((runs["status"] == "diverged").sum())


def bleu_figure(runs: pd.DataFrame, title: str):
    """Test BLEU per setting, with and without warmup (horizontal bars; 'diverged' where no run finished), each
    setting labelled with its optimizer-state bytes."""
    import matplotlib.pyplot as plt

    from optbench.units import human_bytes

    order = {key: i for i, key in enumerate(ROW_ORDER)}
    groups = sorted(runs.groupby("table2.row"), key=lambda kv: order.get(kv[0], len(order)))
    fig, ax = plt.subplots(figsize=(9, 0.55 * len(groups) + 1.4))
    height = 0.38
    best = max(float(runs[runs["status"] == "finished"]["final_metric"].max() or 0), 1.0)
    colours = {True: "#1f77b4", False: "#ff7f0e"}
    for y, (_row, group) in enumerate(groups):
        for warmup, offset in ((True, -height / 2), (False, height / 2)):
            cell = group[group["table2.warmup"].astype(bool) == warmup]
            if cell.empty:
                continue
            mean, std, done, diverged = _bleu_values(cell)
            if done:
                ax.barh(y + offset, mean, height, xerr=std or None, color=colours[warmup], capsize=2)
                note = f"{mean:.1f}" + (f" ({diverged} diverged)" if diverged else "")
                ax.text(mean + best * 0.01 + std, y + offset, note, va="center", fontsize=7)
            else:
                ax.text(best * 0.01, y + offset, "diverged", va="center", fontsize=7, color="#d62728")
    labels = [f"{g['table2.label'].iloc[0]}\n{human_bytes(int(g['state_bytes'].iloc[0]))} state" for _r, g in groups]
    ax.set_yticks(range(len(groups)), labels, fontsize=8)
    ax.invert_yaxis()  # the paper's row order, top to bottom
    ax.set_xlim(0, best * 1.15)
    ax.set_xlabel("test BLEU (sacreBLEU)")
    ax.grid(alpha=0.3, axis="x")
    handles = [plt.Rectangle((0, 0), 1, 1, color=colours[w]) for w in (True, False)]
    ax.legend(handles, ["with warmup", "no warmup"], fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    return fig


def noise_line(runs: pd.DataFrame, stores=()) -> str:
    """The seed-to-seed noise of test BLEU at the runs' number of steps: the sd pooled over every configuration
    (runs that differ only in the seed) with 2+ finished seeds, among ``runs`` and the BLEU runs of ``stores`` at
    the same steps; with it, how far apart two single-seed cells must be before a difference is detected."""
    from scipy import stats

    from optbench.report.data import load_runs
    from optbench.report.stats import pooled_sd

    steps = set(runs["planned_steps"].dropna().astype(int))
    frames = [runs.assign(_from="this table")]
    for store in stores:
        other, _ = load_runs(str(store))
        frames.append(other.assign(_from=str(store)))
    pool = pd.concat(frames, ignore_index=True)
    pool = pool[
        (pool["status"] == "finished") & (pool["metric_name"] == "bleu") & pool["planned_steps"].isin(list(steps))
    ]
    groups = [g["final_metric"].astype(float).tolist() for _, g in pool.groupby(["_from", "family", "lr"], sort=False)]
    sd, dof, used = pooled_sd(groups)
    if not used:
        return "Seed-to-seed noise: no configuration here has 2 seeds, so none is measured."
    sources = ", ".join(sorted({s for s, g in pool.groupby("_from") if len(g) > len(g.groupby(["family", "lr"]))}))
    quantile = float(stats.t.ppf(0.975, dof))  # the sd is estimated on dof degrees of freedom
    detect = quantile * sd * 2**0.5
    return (
        f"Seed-to-seed noise at {'/'.join(str(s) for s in sorted(steps))} steps, from the records: test BLEU sd "
        f"{sd:.2f}, pooled over {used} configurations with 2+ seeds ({dof} degrees of freedom; {sources}); two "
        f"single-seed cells differ by more than {detect:.1f} BLEU (t {quantile:.2f} x sd x sqrt 2) before a "
        "difference is detected at the 5% level."
    )


def joined(runs: pd.DataFrame, column: str, fmt=str) -> str:
    """The values the runs recorded in ``column``, each once, joined by '/' ('4', '2/4'); '?' when none did."""
    if column not in runs:
        return "?"
    return "/".join(sorted({fmt(v) for v in runs[column].dropna()})) or "?"


def _whole(value) -> str:
    return str(int(value))


def records_line(runs: pd.DataFrame) -> str:
    """What the records hold, for titles: 'beam 4, 450 steps, bf16-mixed, 2 threads' (each as the runs have it:
    several values joined by '/')."""
    return (
        f"beam {joined(runs, 'final_beam', _whole)}, {joined(runs, 'planned_steps', _whole)} steps, "
        f"{joined(runs, 'precision')}, {joined(runs, 'threads', _whole)} threads"
    )


def budget_line(runs: pd.DataFrame, budget: str) -> str:
    """What the runs of one budget trained with and how long they took, read from their records."""
    first = runs.iloc[0]
    each = (pd.to_datetime(runs["end_time"]) - pd.to_datetime(runs["start_time"])).dt.total_seconds()
    span = (pd.to_datetime(runs["end_time"]).max() - pd.to_datetime(runs["start_time"]).min()).total_seconds()
    model = (
        f"d={int(_get(first, 'task.model.d_model', 0))}, {int(_get(first, 'task.model.enc_layers', 0))}+"
        f"{int(_get(first, 'task.model.dec_layers', 0))} layers"
    )
    return (
        f"Budget '{budget}': {first.get('precision', 'fp32')}, {int(first['planned_steps'])} steps, warmup "
        f"{int(_get(first, 'task.warmup_steps', 0))} steps (rows with warmup), peak lr "
        f"{_get(first, 'task.lrs.adam'):g}, {model}; {len(runs)} runs on {first.get('device')} "
        f"({int(first.get('threads') or 0)} threads, torch {first.get('torch_version')}) took {each.sum() / 60:.0f} "
        f"min in all ({each.mean():.0f} s per run, of which {runs['train_time_s'].astype(float).mean():.0f} s "
        f"training; {span / 60:.0f} min from the first start to the last end)."
    )
