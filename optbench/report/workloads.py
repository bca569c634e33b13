"""``optbench-report report=scoring``: every optimizer across every task, with honest statistics.

For each task (read from its own store) and optimizer, the runs at the optimizer's best lr give, per seed, the final
metric and the time-to-target (training seconds, and optimizer steps, at the first evaluation that reaches the
task's target; infinite when none does). Then:

- ``scores``: the performance-profile score per optimizer (``scoring.profile_score``) over the tasks, from each
  optimizer's median time-to-target over seeds (a task it never ran counts as a miss), under every clock
  (``clocks``): the report's reading of time, each run's own measured clock, and optimizer steps;
- ``tasks``: per task and optimizer, the final metric's mean with its Student-t interval and n (the values below 3
  seeds), the same for time-to-target, and its standing against the task's best by a paired t-test across seeds,
  Holm-corrected over the task's optimizers (``stats.versus_best``);
- ``speedup_<task>``: the speedup over a reference optimizer with its per-seed values and interval;
- the profile figure.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from optbench.errors import OptbenchError
from optbench.ranking import frame_direction
from optbench.report import scoring, stats
from optbench.report.data import load_runs
from optbench.report.tables import Target, common_seeds, evaluations, first_hit, selection_score, target_of
from optbench.report.tables import picked as pick

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
        name = selection_score(group)
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


def picked(runs: pd.DataFrame, higher: bool) -> str:
    """The configuration (``hyperparameters``) a tuning sweep picked among one optimizer's runs (``tables.picked``:
    by the score it ranked by, never by the test split of a task with a validation split)."""
    return pick(runs, by="hyperparameters", higher=higher)


# How the time-to-target's seconds are read from the records (``report.seconds``).
SECONDS = {
    "measured": "each run's own training seconds at the evaluation that reaches the target",
    "step_cost": (
        "the steps to target x the optimizer's cost of a step on the task, from the fastest of all its runs there "
        "(training seconds per step), so that what else shared the machine during one run does not count"
    ),
    "step_parts": (
        "the steps to target x (the task's fastest forward-backward, which every optimizer's step shares, + the "
        "optimizer's own fastest optimizer step), so that neither the load a run met nor the days between runs "
        "count"
    ),
}

# Runs whose forward-backward does the same work: one model and batch, the same precision, device and threads.
SAME_WORK = ("precision", "global_batch_size", "accumulate", "world_size", "device", "threads")


def step_parts(runs: pd.DataFrame) -> pd.Series:
    """Per run (``runs``' index), its optimizer's cost of a step built from its parts: the fastest forward-backward
    (``fwd_bwd_time_s``) of any run of the task doing the same work (``SAME_WORK``), whatever its optimizer, plus the
    fastest optimizer step (``opt_step_time_s``) of the optimizer's own runs. On a machine that other work shares,
    the forward-backward (most of a step) is timed at its least disturbed across every run, and what differs between
    optimizers, their own step, at its least disturbed across theirs. NaN where a run recorded no step times."""
    if not {"fwd_bwd_time_s", "opt_step_time_s"} <= set(runs.columns):
        return pd.Series(math.nan, index=runs.index)
    keys = [c for c in SAME_WORK if c in runs and runs[c].notna().all()]  # older records may lack a key
    times = runs["fwd_bwd_time_s"]
    forward_backward = times.groupby([runs[c] for c in keys]).transform("min") if keys else times.min()
    own_step = runs["opt_step_time_s"].groupby(runs["label"]).transform("min")
    return (forward_backward + own_step).astype(float)


def seconds_per_step(metrics: pd.DataFrame, run_ids) -> float:
    """The fastest of the runs' training seconds per optimizer step, each run's taken at its last logged training
    step: the cost of a step with the least interference from whatever else shared the machine (every run of one
    optimizer on one task does the same work per step, whatever its lr). NaN when no run logged a training step."""
    if metrics.empty or "train_s" not in metrics:
        return math.nan
    rows = metrics[(metrics["split"] == "train") & metrics["run_id"].isin(list(run_ids)) & (metrics["step"] > 0)]
    if rows.empty:
        return math.nan
    last = rows.sort_values("step").groupby("run_id").last()
    return float((last["train_s"] / last["step"]).min())


def per_seed(
    runs: pd.DataFrame, metrics: pd.DataFrame, target: Target | None, seconds_from: str = "measured"
) -> pd.DataFrame:
    """One row per run of each optimizer's best configuration (best lr and, after coordinate descent, best other
    hyperparameters): label, seed, final metric, seconds and steps to ``target`` on the validation split. The
    seconds are read as ``seconds_from`` says (``SECONDS``); with ``step_cost`` or ``step_parts``, a run whose
    optimizer's runs recorded no step times keeps its measured seconds."""
    higher = frame_direction(runs)
    runs = runs.assign(hyperparameters=hyperparameters(runs))
    parts = step_parts(runs) if seconds_from == "step_parts" else None
    rows = []
    for label, group in runs.groupby("label", sort=False):
        at = group[group["hyperparameters"] == picked(group, higher)]
        tuned = tuned_columns(group)
        cost = seconds_per_step(metrics, group["run_id"]) if seconds_from == "step_cost" else math.nan
        for index, run in at.iterrows():
            if parts is not None:
                cost = parts[index]
            finished = run["status"] == "finished"
            measured = seconds = steps = math.inf  # a run that never reaches the target is infinitely slow
            if target is not None and not metrics.empty:
                evals = evaluations(metrics, [run["run_id"]])
                measured, steps = first_hit(evals, target.metric, target.value, target.higher)
                seconds = steps * cost if math.isfinite(cost) and math.isfinite(steps) else measured
            rows.append(
                {
                    "label": label,
                    "seed": int(run["seed"]),
                    "lr": float(run["lr"]),
                    "picked": ", ".join(f"{short_name(c)}={run[c]:g}" for c in tuned if c != "optimizer.lr"),
                    "final": float(run["final_metric"]) if finished and pd.notna(run["final_metric"]) else math.nan,
                    "seconds_to_target": seconds,
                    "measured_seconds_to_target": measured,
                    "steps_to_target": steps,
                    "status": run["status"],
                }
            )
    return pd.DataFrame(rows)


def gather(
    stores: dict[str, str],
    targets: dict[str, Any] | None = None,
    reference_sweep: str | None = None,
    seconds_from: str = "measured",
) -> dict[str, tuple[pd.DataFrame, bool]]:
    """{task: (per-seed rows, higher_is_better)} from each task's store; a task its store holds no runs of yet (a
    suite under way) is left out, and said so. The runs of ``reference_sweep`` (the speedup's reference at other
    budgets) are not ranked. Each task's rows carry its ``Target`` as ``rows.attrs["target"]``; ``seconds_from``
    (``SECONDS``) says how the time-to-target's seconds are read."""
    if seconds_from not in SECONDS:
        raise OptbenchError(
            f"report.seconds={seconds_from!r} is not a way to read training time; choose one of: "
            + "; ".join(f"{name} ({text})" for name, text in SECONDS.items())
            + "."
        )
    out = {}
    for task, store in stores.items():
        if not any(task_runs(store, task)):
            print(f"optbench-report: {store} holds no runs of task {task} yet; scoring without it.", file=sys.stderr)
            continue
        runs, metrics = ranked_runs(store, task, reference_sweep)
        target = target_of(runs, (targets or {}).get(task))
        rows = per_seed(runs, metrics, target, seconds_from)
        rows.attrs["target"] = target
        rows.attrs["seconds"] = seconds_from
        out[task] = (rows, frame_direction(runs))
    if not out:
        raise OptbenchError(f"no runs to score: the stores hold none of the tasks' runs ({', '.join(stores)}).")
    return out


def ranked_runs(store: str, task: str, reference_sweep: str | None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``task``'s runs and metrics in ``store``, less those of ``reference_sweep``: every optimizer is ranked at
    its own task budget, never at the reference's other budgets."""
    runs, metrics = load_runs(store, task=task)
    if reference_sweep is None or "sweep" not in runs:
        return runs, metrics
    runs = runs[runs["sweep"] != reference_sweep].reset_index(drop=True)
    return runs, metrics[metrics["run_id"].isin(runs["run_id"])] if not metrics.empty else metrics


def task_runs(store: str, task: str):
    """The record folders of ``task`` in ``store`` (a run id starts with its task's name)."""
    return (p for p in Path(store, "runs").glob(f"{task}-*") if p.is_dir())


def median_time(rows: pd.DataFrame, column: str) -> pd.Series:
    """Per optimizer, the median over seeds (infinite when most seeds missed the target)."""
    return rows.groupby("label", sort=False)[column].median()


def target_text(rows: pd.DataFrame) -> str:
    """How a task's rows name their target in captions: 'loss <= 4.4', or 'none set'."""
    target = rows.attrs.get("target")
    return target.describe() if target is not None else "none set"


MEASURES = {"seconds": "training time", "steps": "optimizer steps"}
# How each score column's clock reads, for captions (given the report's ``report.seconds``).
CLOCK_WORDS = {
    "seconds": lambda reading: f"reads the seconds as {SECONDS[reading]}",
    "measured_seconds": lambda reading: "reads each run's own measured training seconds (AlgoPerf's clock)",
    "steps": lambda reading: "reads optimizer steps to target, blind to per-step cost and to timing noise",
}
TITLE_NOTE = {
    "step_cost": "\n(steps × the optimizer's fastest cost of a step on the task)",
    "step_parts": "\n(steps × (the task's fastest forward-backward + the optimizer's fastest step))",
}


def medians(results: dict[str, tuple[pd.DataFrame, bool]], measure: str = "seconds") -> pd.DataFrame:
    """tasks x optimizers: the median over seeds of the time-to-target in ``measure`` (seconds as the report reads
    them, ``measured_seconds`` as each run's own clock read them, or steps); a task an optimizer has no runs of is
    NaN."""
    column = f"{measure}_to_target"
    return pd.DataFrame({task: median_time(rows, column) for task, (rows, _) in results.items()}).T


def clocks(results: dict[str, tuple[pd.DataFrame, bool]]) -> dict[str, str]:
    """{score column: the ``medians`` measure it reads}: the time as the report reads it (``report.seconds``), each
    run's own measured clock beside it when that reading is another, and optimizer steps."""
    reading = next(iter(results.values()))[0].attrs.get("seconds", "measured") if results else "measured"
    out = {f"score (time, {reading})": "seconds"}
    if reading != "measured":
        out["score (time, measured)"] = "measured_seconds"
    out["score (steps)"] = "steps"
    return out


def score_table(results: dict[str, tuple[pd.DataFrame, bool]], tau_max: float = scoring.TAU_MAX) -> pd.DataFrame:
    """Per optimizer, the profile score under every clock (``clocks``): training time as the report reads it, each
    run's own measured clock (AlgoPerf's reading) where that is another, and optimizer steps (blind to per-step
    cost and to a shared machine's timing noise); sorted by the first."""
    times = medians(results)
    ran = times.notna().sum(axis=0)
    reached = np.isfinite(times.fillna(math.inf)).sum(axis=0)
    # an optimizer without runs on a task missed it
    columns = {
        name: scoring.profile_score(medians(results, measure).fillna(math.inf), tau_max).reindex(times.columns)
        for name, measure in clocks(results).items()
    }
    table = pd.DataFrame(
        {**columns, "tasks reached": reached.astype(int), "tasks run": ran.astype(int), "of": len(times)}
    )
    return table.sort_values(next(iter(columns)), ascending=False, kind="stable").rename_axis("optimizer").reset_index()


def task_tables(results: dict[str, tuple[pd.DataFrame, bool]], alpha: float = 0.05) -> pd.DataFrame:
    """Per task and optimizer: final metric and time-to-target as mean [95% Student-t interval] (n), the values
    below 3 seeds; ``vs best``: the paired t-test across seeds against the task's best by final metric,
    Holm-corrected over the task's optimizers (``stats.versus_best``)."""
    rows = []
    for task, (seeds, higher) in results.items():
        per = {
            label: {int(r.seed): r.final for r in g.itertuples() if r.final == r.final}
            for label, g in seeds.groupby("label", sort=False)
        }
        standing = stats.versus_best(per, higher, alpha)
        for label, g in seeds.groupby("label", sort=False):
            rows.append(
                {
                    "task": task,
                    "optimizer": label,
                    "lr": g["lr"].iloc[0],
                    "also picked": g["picked"].iloc[0] or "-",
                    "final metric": stats.interval_text(g["final"].tolist()),
                    "final mean": float(g["final"].mean()),
                    "time to target (s)": stats.interval_text(g["seconds_to_target"].tolist(), ".1f", floor=0.0),
                    "steps to target": stats.interval_text(g["steps_to_target"].tolist(), ".0f", floor=0.0),
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


def speedup_table(
    runs: pd.DataFrame, reference: str = "adamw", sweep: str | None = None, loss: str = "final_eval_loss"
) -> pd.DataFrame | None:
    """Per optimizer, how many steps the ``reference`` needs to reach the optimizer's mean final validation loss,
    over the steps the optimizer used (Wen et al. 2025). The reference's curve is its picked configuration's mean
    final loss at each training budget it ran (``planned_steps``: full runs, each with its own schedule, tuned at
    each budget): its runs in the suite and those of ``sweep`` (the runs at other budgets). Every optimizer is
    taken at its pick among its suite runs (``sweep``'s runs never count as its own). Each speedup comes with the
    speedup of each seed's own loss, and a 95% interval: the Student-t interval of the optimizer's mean loss read
    through the reference's curve (the curve's own seed noise is not in it; the reference's own row shows its
    size); ``interval vs 1.0x`` says whether it lies above, below or around no speedup. None when the reference
    ran fewer than two budgets."""
    if loss not in runs or "planned_steps" not in runs:
        return None
    done = runs[(runs["status"] == "finished") & runs[loss].notna()]
    done = done.assign(hyperparameters=hyperparameters(done))
    suite = done[done["sweep"] != sweep] if sweep is not None and "sweep" in done else done
    curve = {}
    for budget, group in done[done["label"] == reference].groupby("planned_steps"):
        curve[float(budget)] = float(group[group["hyperparameters"] == picked(group, higher=False)][loss].mean())
    if len(curve) < 2:
        return None
    rows = []
    budgets, finals = list(curve), list(curve.values())

    def speedup_at(value: float) -> tuple[float, str]:
        return scoring.speedup_over(budgets, finals, value, steps)

    def shown(pair: tuple[float, str]) -> str:
        return f"{pair[1]}{pair[0]:.2f}x"

    for label, group in suite.groupby("label", sort=False):
        at = group[group["planned_steps"] == group["planned_steps"].max()]
        at = at[at["hyperparameters"] == picked(at, higher=False)].sort_values("seed")
        value, steps = float(at[loss].mean()), float(at["planned_steps"].iloc[0])
        speedup, bound = speedup_at(value)
        per = [speedup_at(v) for v in at[loss]]
        interval = stats.mean_interval(at[loss])
        if interval is None:
            low_high, versus_one = f"- (n={len(at)})", f"untested (n={len(at)})"
        else:  # the loss's interval through the reference's curve: a lower loss is a larger speedup
            low, high = speedup_at(interval[2]), speedup_at(interval[1])
            low_high = f"[{shown(low)}, {shown(high)}]"
            versus_one = "above 1.0x" if low[0] > 1.0 else "below 1.0x" if high[0] < 1.0 else "includes 1.0x"
        rows.append(
            {
                "optimizer": label,
                "steps": int(steps),
                f"{loss} (mean)": value,
                "seeds": len(at),
                f"{reference} steps to reach it": f"{bound}{speedup * steps:.0f}",
                "speedup": f"{bound}{speedup:.2f}x",
                "95% interval": low_high,
                "per seed": ", ".join(shown(pair) for pair in per),
                "interval vs 1.0x": versus_one,
            }
        )
    table = pd.DataFrame(rows).sort_values(f"{loss} (mean)").reset_index(drop=True)
    table.attrs["curve"] = curve  # {budget in steps: the reference's mean final loss there}
    return table


def profile_figure(results: dict[str, tuple[pd.DataFrame, bool]], tau_max: float = scoring.TAU_MAX):
    """The performance profiles by training time (left) and by optimizer steps (right), one line per optimizer in
    the same style on both; one legend for both, with each optimizer's two scores (the areas up to ``tau_max``), in
    the order of the time score."""
    import matplotlib.pyplot as plt

    from optbench.report.style import color, line_style

    taus = np.geomspace(1.0, max(tau_max, 1.0001) * 2, 400)
    ticks = [t for t in (1, 1.25, 1.5, 2, 3, 4, 6, 8, 16) if t <= taus[-1]]
    times = {measure: medians(results, measure).fillna(math.inf) for measure in MEASURES}
    scores = {measure: scoring.profile_score(times[measure], tau_max) for measure in MEASURES}
    order = scores["seconds"].sort_values(ascending=False).index
    timing = next(iter(results.values()))[0].attrs.get("seconds", "measured") if results else "measured"
    columns = 2 if len(order) > 14 else 1
    fig, axes = plt.subplots(1, 2, figsize=(11.0 + 2.4 * columns, 4.4), sharey=True, constrained_layout=True)
    for ax, measure in zip(axes, MEASURES, strict=True):
        profile = scoring.performance_profile(times[measure], taus)
        for name in order:
            ax.step(
                taus,
                profile[name],
                where="post",
                color=color(name),
                linestyle=line_style(name),
                linewidth=1.4,
                label=f"{name} ({scores['seconds'][name]:.2f} / {scores['steps'][name]:.2f})",
            )
        ax.axvline(tau_max, color="0.6", linewidth=0.8, linestyle=":")
        ax.set_xscale("log")
        ax.set_xlim(1.0, taus[-1])
        ax.set_xticks(ticks, [f"{t:g}" for t in ticks])
        ax.minorticks_off()
        ax.set_ylim(-0.02, 1.02)
        ax.set_xlabel(f"τ: {MEASURES[measure]} to target within τ × the fastest optimizer's (log scale)")
        ax.set_title(f"by {MEASURES[measure]}" + (TITLE_NOTE.get(timing, "") if measure == "seconds" else ""))
    fig.legend(
        *axes[0].get_legend_handles_labels(),
        title=f"optimizer (score by time / by steps:\narea up to τ = {tau_max:g})",
        fontsize=8,
        title_fontsize=8,
        loc="outside right upper",
        ncol=columns,
        frameon=False,
    )
    axes[0].set_ylabel(f"fraction of the {len(results)} task{'s' if len(results) != 1 else ''}")
    fig.suptitle(f"Performance profiles over {', '.join(results)}")
    return fig


def render(
    out: Path,
    stores: dict[str, str],
    targets: dict[str, Any] | None,
    tau_max: float,
    reference: str = "adamw",
    reference_sweep: str | None = None,
    speedup_stores: dict[str, str] | None = None,
    seconds_from: str = "measured",
) -> list[Path]:
    from optbench.report.style import save
    from optbench.report.tables import write_table

    missing = [f"{task}: {store}" for task, store in stores.items() if not Path(store, "runs").is_dir()]
    if missing:
        raise OptbenchError(f"report.stores names stores that do not exist: {'; '.join(missing)}.")
    results = gather(stores, targets, reference_sweep, seconds_from)
    paths = save(profile_figure(results, tau_max), out, "profiles")
    scores = score_table(results, tau_max)
    score_columns = list(clocks(results))
    paths += write_table(
        scores.assign(**{c: scores[c].map(lambda v: f"{v:.3f}") for c in score_columns}),
        out,
        "scores",
        caption=(
            f"Performance-profile score over {', '.join(results)}: the area under each optimizer's profile of "
            f"time-to-target (median over seeds; a miss, or a task without the optimizer's runs, is infinitely "
            f"slow) up to tau = {tau_max:g}, normalised to [0, 1], under each clock: "
            + "; ".join(f"'{name}' {CLOCK_WORDS[measure](seconds_from)}" for name, measure in clocks(results).items())
            + f". Sorted by '{score_columns[0]}'. A verdict that holds under one clock only is that clock's."
        ),
    )
    paths += write_table(
        task_tables(results),
        out,
        "tasks",
        caption=(
            f"Per task, each optimizer at its best lr: mean [{stats.INTERVAL_NAME}] (n seeds) of the final metric "
            "and of time-to-target, the values themselves below 3 seeds; 'vs best': against the task's best by "
            "final metric, a paired t-test across seeds, Holm-corrected over the task's optimizers (family-wise "
            "error 0.05): 'worse' where the corrected p is below 0.05, else 'no difference detected' with the "
            "difference d (this optimizer's mean minus the best's) and its simultaneous 95% interval (Bonferroni "
            "over the task's comparisons); 'untested' "
            "with fewer than two common seeds. Targets, on the validation split where a task has one (seconds: "
            f"{SECONDS[seconds_from]}): "
            + "; ".join(f"{task} {target_text(rows)}" for task, (rows, _) in results.items())
            + "."
        ),
    )
    for task in results:
        runs, _ = ranked_runs(stores[task], task, reference_sweep)
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
    for task, store in ({t: stores[t] for t in results} if speedup_stores is None else speedup_stores).items():
        if not any(task_runs(store, task)):
            print(f"optbench-report: {store} holds no runs of {task} yet; no speedup table for it.", file=sys.stderr)
            continue
        speedups = speedup_table(load_runs(store, task=task)[0], reference, reference_sweep)
        if speedups is not None:
            paths += write_table(
                speedups,
                out,
                f"speedup_{task}",
                caption=(
                    f"{task}: steps tuned {reference} needs to reach each optimizer's final validation loss "
                    f"(interpolated in log steps between {reference}'s full runs at several budgets, each tuned) over "
                    f"the steps the optimizer used; '>' and '<': outside the losses {reference}'s budgets reach. "
                    f"'95% interval': the {stats.INTERVAL_NAME} loss read through {reference}'s curve (its own "
                    f"seed noise not included: {reference}'s row shows its size), none below 3 seeds; 'per seed': "
                    "each seed's loss read the same way. "
                    f"{reference}'s curve: "
                    + ", ".join(f"{b:g} steps {v:.4g}" for b, v in sorted(speedups.attrs["curve"].items()))
                    + "."
                ),
            )
    return paths
