"""``optbench-report report=scoring``: every optimizer across every task, with honest statistics.

For each task (read from its own store) and optimizer, the runs at the optimizer's best lr give, per seed, the final
metric and the time-to-target (training seconds, and optimizer steps, at the first evaluation that reaches the
task's target; infinite when none does). Then:

- ``scores``: the performance-profile score per optimizer (``scoring.profile_score``) over the tasks, from each
  optimizer's median time-to-target over seeds (a task it never ran counts as a miss);
- ``tasks``: per task and optimizer, the final metric's mean with its 95% bootstrap interval and n, the same for
  time-to-target, and whether it is separated from the task's best by a paired t-test across seeds;
- the profile figure.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from optbench.errors import OptbenchError
from optbench.ranking import frame_direction, score_direction
from optbench.report import scoring
from optbench.report.data import load_runs
from optbench.report.tables import best_lr, common_seeds, evaluations, first_hit, target_of

TUNED_PREFIXES = ("optimizer.", "schedule.", "wrapper.")


def hyperparameter_columns(runs: pd.DataFrame) -> list[str]:
    """The columns of a run's training hyperparameters: optimizer, schedule and wrapper settings, lr included."""
    return sorted(c for c in runs.columns if c.startswith(TUNED_PREFIXES) and ".about." not in c)


def hyperparameters(runs: pd.DataFrame) -> pd.Series:
    """Per run, its training hyperparameters as one string: the runs of one configuration on different seeds
    share it."""
    return runs[hyperparameter_columns(runs)].map(repr).agg("|".join, axis=1)  # repr: NaN and lists as text too


def tuned_columns(runs: pd.DataFrame) -> list[str]:
    """The numeric hyperparameters one optimizer's runs tried more than one value of (lr, weight decay, ...)."""
    numeric = [
        c
        for c in hyperparameter_columns(runs)
        if pd.api.types.is_numeric_dtype(runs[c]) and not pd.api.types.is_bool_dtype(runs[c])
    ]
    return [c for c in numeric if runs[c].nunique(dropna=True) > 1]


def short_name(column: str) -> str:
    return column.split(".", 1)[1] if column.startswith("optimizer.") else column


def tuning_table(runs: pd.DataFrame) -> pd.DataFrame:
    """Per optimizer, every configuration its tuning tried on the seed they all share, with the score it was
    ranked by (``tune_metric``) and the one picked: the tuning budget each optimizer got, from the records."""
    higher = frame_direction(runs)
    runs = runs.assign(hyperparameters=hyperparameters(runs))
    rows = []
    for label, group in runs.groupby("label", sort=False):
        choice = picked(group, higher)
        name = tune_score_name(group)
        seed = min(common_seeds(group, "hyperparameters") or {int(group["seed"].min())})
        tuned = tuned_columns(group) or ["optimizer.lr"]
        for _, run in group[group["seed"] == seed].sort_values(tuned).iterrows():
            rows.append(
                {
                    "optimizer": label,
                    **{short_name(c): run[c] for c in tuned},
                    f"{name} (seed {seed})": f"{run[name]:.4g}" if run["status"] == "finished" else run["status"],
                    "picked": "yes" if run["hyperparameters"] == choice else "",
                }
            )
    return pd.DataFrame(rows)


def tune_score_name(runs: pd.DataFrame) -> str:
    """The summary score the runs' tuning ranked by (their ``tune_metric``), or ``final_metric``."""
    names = runs["tune_metric"].dropna().unique() if "tune_metric" in runs else []
    return str(names[0]) if len(names) == 1 and str(names[0]) in runs else "final_metric"


def picked(runs: pd.DataFrame, higher: bool) -> str:
    """The configuration (``hyperparameters``) a tuning sweep picked among one optimizer's runs: the best by the
    score it ranked by (``tune_metric``, e.g. the validation loss; the final metric when none), so the report
    never picks by the test split the sweep did not see."""
    name = tune_score_name(runs)
    return best_lr(runs, score_direction(name, higher), by="hyperparameters", score=name)


def per_seed(runs: pd.DataFrame, metrics: pd.DataFrame, target: float | None) -> pd.DataFrame:
    """One row per run of each optimizer's best configuration (best lr and, after coordinate descent, best other
    hyperparameters): label, seed, final metric, seconds and steps to target."""
    higher = frame_direction(runs)
    runs = runs.assign(hyperparameters=hyperparameters(runs))
    rows = []
    for label, group in runs.groupby("label", sort=False):
        at = group[group["hyperparameters"] == picked(group, higher)]
        tuned = tuned_columns(group)
        for _, run in at.iterrows():
            finished = run["status"] == "finished"
            seconds = steps = math.inf
            if target is not None and not metrics.empty:
                evals = evaluations(metrics, [run["run_id"]])
                seconds, steps = first_hit(evals, run["metric_name"], target, higher)
            rows.append(
                {
                    "label": label,
                    "seed": int(run["seed"]),
                    "lr": float(run["lr"]),
                    "picked": ", ".join(f"{short_name(c)}={run[c]:g}" for c in tuned if c != "optimizer.lr"),
                    "final": float(run["final_metric"]) if finished and pd.notna(run["final_metric"]) else math.nan,
                    "seconds_to_target": seconds,
                    "steps_to_target": steps,
                    "status": run["status"],
                }
            )
    return pd.DataFrame(rows)


def gather(stores: dict[str, str], targets: dict[str, float] | None = None) -> dict[str, tuple[pd.DataFrame, bool]]:
    """{task: (per-seed rows, higher_is_better)} from each task's store; a task its store holds no runs of yet (a
    suite under way) is left out, and said so."""
    out = {}
    for task, store in stores.items():
        if not any(task_runs(store, task)):
            print(f"optbench-report: {store} holds no runs of task {task} yet; scoring without it.", file=sys.stderr)
            continue
        runs, metrics = load_runs(store, task=task)
        out[task] = (per_seed(runs, metrics, target_of(runs, (targets or {}).get(task))), frame_direction(runs))
    if not out:
        raise OptbenchError(f"no runs to score: the stores hold none of the tasks' runs ({', '.join(stores)}).")
    return out


def task_runs(store: str, task: str):
    """The record folders of ``task`` in ``store`` (a run id starts with its task's name)."""
    return (p for p in Path(store, "runs").glob(f"{task}-*") if p.is_dir())


def median_time(rows: pd.DataFrame, column: str) -> pd.Series:
    """Per optimizer, the median over seeds (infinite when most seeds missed the target)."""
    return rows.groupby("label", sort=False)[column].median()


MEASURES = {"seconds": "training time", "steps": "optimizer steps"}


def medians(results: dict[str, tuple[pd.DataFrame, bool]], measure: str = "seconds") -> pd.DataFrame:
    """tasks x optimizers: the median over seeds of the time-to-target in ``measure`` (seconds or steps); a
    task an optimizer has no runs of is NaN."""
    column = f"{measure}_to_target"
    return pd.DataFrame({task: median_time(rows, column) for task, (rows, _) in results.items()}).T


def score_table(results: dict[str, tuple[pd.DataFrame, bool]], tau_max: float = scoring.TAU_MAX) -> pd.DataFrame:
    """Per optimizer, the profile score from training time (``score``, AlgoPerf's) and from optimizer steps
    (``score (steps)``, blind to per-step cost and to a shared machine's timing noise)."""
    times = medians(results)
    ran = times.notna().sum(axis=0)
    times = times.fillna(math.inf)  # an optimizer without runs on a task missed it
    score = scoring.profile_score(times, tau_max)
    by_steps = scoring.profile_score(medians(results, "steps").fillna(math.inf), tau_max)
    reached = np.isfinite(times).sum(axis=0)
    table = pd.DataFrame(
        {
            "score": score,
            "score (steps)": by_steps.reindex(score.index),
            "tasks reached": reached.astype(int),
            "tasks run": ran.astype(int),
            "of": len(times),
        }
    )
    return table.sort_values("score", ascending=False).rename_axis("optimizer").reset_index()


def _ci_text(values: list[float], digits: str = ".4g") -> str:
    finite = [v for v in values if v == v]
    if not finite:
        return "-"
    mean, low, high = scoring.bootstrap_ci(finite)
    if math.isinf(mean):
        return f"missed (n={len(finite)})"
    return f"{mean:{digits}} [{low:{digits}}, {high:{digits}}] (n={len(finite)})"


def task_tables(results: dict[str, tuple[pd.DataFrame, bool]], alpha: float = 0.05) -> pd.DataFrame:
    """Per task and optimizer: final metric and time-to-target as mean [95% CI] (n); ``separated`` says whether
    the paired t-test across seeds sets the optimizer apart from the task's best (``best`` marks that one)."""
    rows = []
    for task, (seeds, higher) in results.items():
        per = {
            label: {int(r.seed): r.final for r in g.itertuples() if r.final == r.final}
            for label, g in seeds.groupby("label", sort=False)
        }
        standing = scoring.versus_best(per, higher, alpha)
        for label, g in seeds.groupby("label", sort=False):
            rows.append(
                {
                    "task": task,
                    "optimizer": label,
                    "lr": g["lr"].iloc[0],
                    "also picked": g["picked"].iloc[0] or "-",
                    "final metric": _ci_text(g["final"].tolist()),
                    "final mean": float(g["final"].mean()),
                    "time to target (s)": _ci_text(g["seconds_to_target"].tolist(), ".1f"),
                    "steps to target": _ci_text(g["steps_to_target"].tolist(), ".0f"),
                    "vs best": standing.get(label, "no finished run"),
                }
            )
    table = pd.DataFrame(rows)
    if table.empty:
        raise OptbenchError("no runs to score: the stores hold none of the tasks' runs.")
    order = []
    for task, (_, higher) in results.items():
        part = table[table["task"] == task]
        order.append(part.sort_values("final mean", ascending=not higher, na_position="last"))
    return pd.concat(order).drop(columns="final mean").reset_index(drop=True)


def speedup_table(runs: pd.DataFrame, reference: str = "adamw", loss: str = "final_eval_loss") -> pd.DataFrame | None:
    """Per optimizer, how many steps the ``reference`` needs to reach the optimizer's mean final validation loss,
    over the steps the optimizer used (Wen et al. 2025). The reference's curve is its best configuration's mean
    final loss at each training budget it ran (``planned_steps``: full runs, each with its own schedule); the other
    optimizers are taken at their own largest budget. None when the reference ran fewer than two budgets."""
    if loss not in runs or "planned_steps" not in runs:
        return None
    done = runs[(runs["status"] == "finished") & runs[loss].notna()]
    done = done.assign(hyperparameters=hyperparameters(done))
    ref = done[done["label"] == reference]
    curve = {}
    for budget, group in ref.groupby("planned_steps"):
        best = group.groupby("hyperparameters")[loss].mean().min()
        curve[float(budget)] = float(best)
    if len(curve) < 2:
        return None
    rows = []
    for label, group in done.groupby("label", sort=False):
        at_budget = group[group["planned_steps"] == group["planned_steps"].max()]
        per_config = at_budget.groupby("hyperparameters")[loss].agg(["mean", "count"])
        best = per_config["mean"].idxmin()
        value, steps = float(per_config.loc[best, "mean"]), float(at_budget["planned_steps"].iloc[0])
        speedup, bound = scoring.speedup_over(list(curve), list(curve.values()), value, steps)
        rows.append(
            {
                "optimizer": label,
                "steps": int(steps),
                f"{loss} (mean)": value,
                "seeds": int(per_config.loc[best, "count"]),
                f"{reference} steps to reach it": f"{bound}{speedup * steps:.0f}",
                "speedup": f"{bound}{speedup:.2f}x",
            }
        )
    return pd.DataFrame(rows).sort_values(f"{loss} (mean)").reset_index(drop=True)


def profile_figure(results: dict[str, tuple[pd.DataFrame, bool]], tau_max: float = scoring.TAU_MAX):
    """The performance profiles by training time (left) and by optimizer steps (right), one line per optimizer,
    its score (the area up to ``tau_max``) in the legend, in the order of the time score."""
    import matplotlib.pyplot as plt

    from optbench.report.style import color, line_style

    taus = np.geomspace(1.0, max(tau_max, 1.0001) * 2, 400)
    ticks = [t for t in (1, 1.25, 1.5, 2, 3, 4, 6, 8, 16) if t <= taus[-1]]
    order = scoring.profile_score(medians(results).fillna(math.inf), tau_max).sort_values(ascending=False).index
    columns = 2 if len(order) > 10 else 1
    fig, axes = plt.subplots(1, 2, figsize=(12.0 + 2.2 * columns, 4.6), sharey=True, constrained_layout=True)
    for ax, measure in zip(axes, MEASURES, strict=True):
        times = medians(results, measure).fillna(math.inf)
        profile = scoring.performance_profile(times, taus)
        score = scoring.profile_score(times, tau_max)
        for name in order:
            ax.step(
                taus,
                profile[name],
                where="post",
                color=color(name),
                linestyle=line_style(name),
                linewidth=1.4,
                label=f"{name} ({score[name]:.2f})",
            )
        ax.axvline(tau_max, color="0.6", linewidth=0.8, linestyle=":")
        ax.set_xscale("log")
        ax.set_xlim(1.0, taus[-1])
        ax.set_xticks(ticks, [f"{t:g}" for t in ticks])
        ax.minorticks_off()
        ax.set_ylim(-0.02, 1.02)
        ax.set_xlabel(f"τ: {MEASURES[measure]} to target within τ × the fastest optimizer's (log scale)")
        ax.set_title(f"by {MEASURES[measure]}")
        ax.legend(
            title=f"score: area up to τ = {tau_max:g}",
            fontsize=7,
            title_fontsize=7,
            loc="upper left",
            bbox_to_anchor=(1.01, 1.0),
            ncol=columns,
            frameon=False,
        )
    axes[0].set_ylabel(f"fraction of the {len(results)} task{'s' if len(results) != 1 else ''}")
    fig.suptitle(f"Performance profiles over {', '.join(results)}")
    return fig


def render(out: Path, stores: dict[str, str], targets: dict[str, float] | None, tau_max: float) -> list[Path]:
    from optbench.report.style import save
    from optbench.report.tables import write_table

    missing = [f"{task}: {store}" for task, store in stores.items() if not Path(store, "runs").is_dir()]
    if missing:
        raise OptbenchError(f"report.stores names stores that do not exist: {'; '.join(missing)}.")
    results = gather(stores, targets)
    paths = save(profile_figure(results, tau_max), out, "profiles")
    scores = score_table(results, tau_max)
    paths += write_table(
        scores.assign(**{c: scores[c].map(lambda v: f"{v:.3f}") for c in ("score", "score (steps)")}),
        out,
        "scores",
        caption=(
            f"Performance-profile score over {', '.join(results)}: the area under each optimizer's profile of "
            f"time-to-target (median over seeds; a miss, or a task without the optimizer's runs, is infinitely "
            f"slow) up to tau = {tau_max:g}, normalised to [0, 1]; 'score (steps)': the same from optimizer steps to "
            "target, blind to per-step cost and to timing noise."
        ),
    )
    paths += write_table(
        task_tables(results),
        out,
        "tasks",
        caption=(
            "Per task, each optimizer at its best lr: mean [95% bootstrap interval] (n seeds) of the final metric "
            "and of time-to-target; against the task's best by final metric, the paired t-test across seeds (p): "
            "'worse' below 0.05, 'not significant' above, 'untested' with fewer than two common seeds."
        ),
    )
    for task in results:
        runs, _ = load_runs(stores[task], task=task)
        tuning = tuning_table(runs)
        if len(tuning) > len(tuning["optimizer"].unique()):  # more than one configuration per optimizer: a tuning
            paths += write_table(
                tuning,
                out,
                f"tuning_{task}",
                caption=(
                    f"{task}: every configuration each optimizer's tuning tried, on the seed they share, with the "
                    "score it was ranked by; the picked one was then run on every seed."
                ),
            )
        speedups = speedup_table(runs)
        if speedups is not None:
            paths += write_table(
                speedups,
                out,
                f"speedup_{task}",
                caption=(
                    f"{task}: steps tuned AdamW needs to reach each optimizer's final validation loss (interpolated "
                    "in log steps between AdamW's full runs at several budgets) over the steps the optimizer used; "
                    "'>' and '<': outside the losses AdamW's budgets reach."
                ),
            )
    return paths
