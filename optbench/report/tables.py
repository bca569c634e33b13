"""Tables from runs: the per-task summary, and writing any table as Markdown, LaTeX and CSV."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from optbench.errors import OptbenchError
from optbench.ranking import (
    best_index,
    comparison_word,
    frame_direction,
    oriented_series,
    reaches,
    score_direction,
    sort_best_first,
)
from optbench.units import human_bytes, human_count


def mean_std(values) -> str:
    values = [v for v in values if v is not None and not (isinstance(v, float) and math.isnan(v))]
    if not values:
        return "-"
    if len(values) == 1:
        return f"{values[0]:.4g} (n=1)"
    return f"{np.mean(values):.4g} ± {np.std(values, ddof=1):.2g} (n={len(values)})"


def best_lr(runs: pd.DataFrame, higher: bool | None = None, by: str = "lr", score: str = "final_metric"):
    """The lr whose runs have the best mean final metric in the task's direction, compared on the seeds every lr
    ran (a tuning sweep's grid seed: its best lr also ran more seeds, which must not make it look worse or better
    than a one-seed grid point); a diverged run counts as the worst possible. ``by`` names another column that
    tells configurations apart (e.g. every tuned hyperparameter at once); its best value is returned. ``score``
    names the summary column compared (e.g. the validation loss a tuning sweep picked by), ``higher`` its way."""
    higher = frame_direction(runs) if higher is None else higher
    finished = runs[score].where(runs["status"] == "finished")
    scored = runs.assign(score=oriented_series(finished, higher))
    common = common_seeds(runs, by)
    if common:
        scored = scored[scored["seed"].isin(common)]
    by_value = scored.groupby(by)["score"].mean()
    best = by_value.index[best_index(by_value.tolist(), higher=True)]
    return float(best) if by == "lr" else best


def selection_score(runs: pd.DataFrame) -> str:
    """The summary score a tuning picks configurations by: the runs' ``tune_metric`` where they record it; else the
    validation split's value of the headline metric (``final_eval_<metric>``) where they record one; else the
    headline (``final_metric``), for a task whose evaluations are the test split's by protocol (DeepOBS's MNIST).
    A task with a validation split is never picked by its test split."""
    names = runs["tune_metric"].dropna().unique() if "tune_metric" in runs else []
    if len(names) == 1 and str(names[0]) in runs:
        return str(names[0])
    metrics = runs["metric_name"].dropna().unique() if "metric_name" in runs else []
    validation = f"final_eval_{metrics[0]}" if len(metrics) == 1 else None
    if validation and validation in runs and runs[validation].notna().any():
        return validation
    return "final_metric"


def picked(runs: pd.DataFrame, by: str = "lr", higher: bool | None = None):
    """The configuration a tuning picked among one optimizer's runs: the value of ``by`` (the lr, or a column
    that tells whole configurations apart) with the best mean ``selection_score``, in that score's direction
    (``higher``: the task's, read from the runs when None), compared on the seeds every configuration ran. The
    one place that decides a pick: reports, scoring and the speedup tables all call it."""
    name = selection_score(runs)
    task_higher = frame_direction(runs) if higher is None else higher
    return best_lr(runs, score_direction(name, task_higher), by=by, score=name)


def runs_at_picked_lr(runs: pd.DataFrame) -> pd.DataFrame:
    """Each optimizer's runs at the lr its tuning picked (``picked``)."""
    return pd.concat([g[g["lr"] == picked(g)] for _, g in runs.groupby("optimizer", sort=False)])


def common_seeds(runs: pd.DataFrame, by: str) -> set:
    """The seeds every configuration (every value of ``by``) ran; empty without a seed column."""
    seed_sets = [set(g) for _, g in runs.groupby(by)["seed"]] if "seed" in runs else []
    return set.intersection(*seed_sets) if seed_sets else set()


@dataclass(frozen=True)
class Target:
    """What time-to-target waits for: ``metric`` (a metric the evaluations record, read on the validation split)
    reaching ``value`` in its direction (``higher``)."""

    metric: str
    value: float
    higher: bool

    def describe(self) -> str:
        """'loss <= 4.4': how captions name it."""
        return f"{self.metric} {comparison_word(self.higher)} {self.value}"


def target_of(runs: pd.DataFrame, override: Any = None) -> Target | None:
    """The report's target when set (a number on the task's metric, or ``{metric: NAME, value: X}`` on another
    metric its evaluations record, e.g. the validation loss), else the task's configured ``task.target`` on its
    metric; None when there is neither."""
    names = runs["metric_name"].dropna() if "metric_name" in runs else pd.Series(dtype=object)
    metric = str(names.iloc[0]) if not names.empty else "metric"
    higher = frame_direction(runs)
    if isinstance(override, Mapping):
        unknown = set(override) - {"metric", "value"}
        if unknown or "value" not in override:
            raise OptbenchError(f"a report target is a number or {{metric: NAME, value: X}}; got {dict(override)!r}.")
        name = str(override.get("metric") or metric)
        return Target(name, float(override["value"]), score_direction(name, higher))
    if override is not None:
        return Target(metric, float(override), higher)
    if "task.target" not in runs or not runs["task.target"].notna().any():
        return None
    return Target(metric, float(runs["task.target"].dropna().iloc[0]), higher)


def validation_values(evals: pd.DataFrame, metric: str) -> pd.DataFrame:
    """One run's ``metric`` on the validation split at each evaluation: ``step``, ``train_s``, ``value``. The
    evaluations during training are the validation's; at the end, the run's final validation value where it
    recorded one beside the test split's (``eval_<metric>``, or ``metric`` itself when it names the validation,
    like ``eval_loss``). A task that evaluates on the test split by protocol (DeepOBS's MNIST) or decodes only at
    the end (the translation shootout) records no such value, and its final evaluation counts as it is."""
    rows = evals.sort_values("step")
    final = rows["split"] == "test"
    value = rows[metric] if metric in rows else pd.Series(np.nan, index=rows.index)
    validation = f"eval_{metric}"
    if validation in rows and rows.loc[final, validation].notna().any():
        value = value.where(~final, rows[validation])
    return pd.DataFrame({"step": rows["step"], "train_s": rows["train_s"], "value": value})


def first_hit(evals: pd.DataFrame, metric: str, target: float, higher: bool = True) -> tuple[float, float]:
    """(training seconds, step) at the first of one run's validation evaluations (``validation_values``) whose
    metric reaches ``target`` in its direction; (inf, inf) when none does."""
    values = validation_values(evals, metric)
    hit = values[values["value"].map(lambda v: reaches(v, target, higher))]
    if hit.empty:
        return math.inf, math.inf
    return float(hit["train_s"].iloc[0]), float(hit["step"].iloc[0])


def evaluations(metrics: pd.DataFrame, run_ids) -> pd.DataFrame:
    """The evaluation rows (validation during training, the final test) of the given runs."""
    return metrics[metrics["split"].isin(["eval", "test"]) & metrics["run_id"].isin(list(run_ids))]


def time_to_target(metrics: pd.DataFrame, run_ids, target: Target | None) -> list[float]:
    """Per run, the training seconds at the first validation evaluation that reaches ``target`` (runs that never
    do are left out)."""
    if target is None or metrics.empty:
        return []
    seconds = (
        first_hit(rows, target.metric, target.value, target.higher)[0]
        for _, rows in evaluations(metrics, run_ids).groupby("run_id")
    )
    return [s for s in seconds if math.isfinite(s)]


def summary_table(runs: pd.DataFrame, metrics: pd.DataFrame, target: Target | None = None) -> pd.DataFrame:
    """One row per optimizer (and training precision) at the lr its tuning picked (``picked``), best first: final
    metric mean ± std over seeds, time-to-target, speed, memory."""
    rows = []
    metric = runs["metric_name"].iloc[0]
    unit = runs["unit"].iloc[0]
    higher = frame_direction(runs)
    runs = runs.assign(precision=runs["precision"].fillna("fp32") if "precision" in runs else "fp32")
    for (name, precision), group in runs.groupby(["optimizer", "precision"], sort=False):
        lr = picked(group)
        at_lr = group[group["lr"] == lr]
        done = at_lr[at_lr["status"] == "finished"]
        values = done["final_metric"].tolist()
        ttt = time_to_target(metrics, done["run_id"], target)
        rows.append(
            {
                "optimizer": name,
                "precision": precision,
                "best lr": lr,
                f"final {metric}": mean_std(values),
                f"{metric} mean": float(np.mean(values)) if values else np.nan,
                f"{metric} std": float(np.std(values, ddof=1)) if len(values) > 1 else np.nan,
                "seeds": len(values),
                "time to target (s)": f"{np.mean(ttt):.1f} ({len(ttt)}/{len(done)})" if ttt else f"- (0/{len(done)})",
                f"{unit}/s": float(done["throughput"].mean()) if not done.empty else np.nan,
                "state bytes": int(group["state_bytes"].iloc[0]),
                "diverged": int((group["status"] == "diverged").sum()),
            }
        )
    return sort_best_first(pd.DataFrame(rows), f"{metric} mean", higher).reset_index(drop=True)


def summary_display(table: pd.DataFrame) -> pd.DataFrame:
    """The summary table as people read it: the metric as one mean ± std column, rates and bytes in human units."""
    metric_cols = [c for c in table.columns if c.endswith(" mean") or c.endswith(" std")]
    unit_col = next(c for c in table.columns if c.endswith("/s"))
    out = table.drop(columns=metric_cols)
    out["best lr"] = out["best lr"].map(lambda v: f"{v:.3g}")
    out[unit_col] = out[unit_col].map(human_count)
    out["state bytes"] = out["state bytes"].map(human_bytes)
    return out.rename(columns={"state bytes": "optimizer state"})


def summary_csv(table: pd.DataFrame) -> pd.DataFrame:
    """The summary table for machines: numbers only (mean and std in their own columns), no formatted text."""
    return table.drop(columns=[c for c in table.columns if c.startswith("final ")])


# Characters LaTeX treats as commands, for text outside tabular cells (pandas escapes the cells themselves).
_LATEX_SPECIAL = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
}
_LATEX_SYMBOLS = {">=": r"$\geq$", "<=": r"$\leq$", "±": r"$\pm$", "→": r"$\to$", "×": r"$\times$"}


def latex_text(text: str) -> str:
    """Plain text made safe for LaTeX: special characters escaped, a few symbols in math mode."""
    out = "".join(_LATEX_SPECIAL.get(c, c) for c in text)
    for symbol, command in _LATEX_SYMBOLS.items():
        out = out.replace(symbol, command)
    return out


def markdown_cell(value):
    """A cell that cannot break a Markdown table row: '|' escaped, line breaks as spaces."""
    if isinstance(value, str):
        return value.replace("|", "\\|").replace("\n", " ")
    return value


def write_table(
    df: pd.DataFrame,
    out_dir: Path,
    stem: str,
    caption: str = "",
    footnote: str = "",
    csv: pd.DataFrame | None = None,
) -> list[Path]:
    """``stem``.md, ``stem``.tex (compiles as is with booktabs) and ``stem``.csv (``csv`` when given: the same rows
    as plain numbers) under ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    md_frame = df.map(markdown_cell).rename(columns=markdown_cell)
    md = md_frame.to_markdown(index=False, floatfmt=".4g")
    if caption:
        md = f"**{markdown_cell(caption)}**\n\n{md}"
    if footnote:
        md += f"\n\n{footnote}"
    tex_frame = df.rename(columns=lambda c: c.replace("±", "+/-"))
    tex = (
        tex_frame.to_latex(
            index=False,
            float_format=lambda x: f"{x:.4g}",
            caption=latex_text(caption) or None,
            label=f"tab:{stem}",
            escape=True,
        )
        .replace("±", r"$\pm$")
        .replace("→", r"$\to$")
    )
    if footnote:
        tex += "% " + " ".join(footnote.splitlines()) + "\n"
    paths = [out_dir / f"{stem}.md", out_dir / f"{stem}.tex", out_dir / f"{stem}.csv"]
    paths[0].write_text(md + "\n")
    paths[1].write_text(tex)
    (df if csv is None else csv).to_csv(paths[2], index=False)
    return paths
