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
    done = runs[runs["status"] == "finished"]["final_metric"].astype(float)
    diverged = int((runs["status"] == "diverged").sum())
    if done.empty:
        return "diverged"
    cell = f"{done.mean():.1f}" if len(done) == 1 else f"{done.mean():.1f} ± {done.std(ddof=1):.1f}"
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
