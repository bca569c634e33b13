"""The `optbench-report` command (a Hydra app over conf/report.yaml): figures and tables from the results store.

optbench-report filters.task=mnist_mlp          # comparison figures + summary table -> results/mnist_mlp/
optbench-report report=memory                   # memory-footprint table           -> results/memory/
optbench-report report=table2                   # Adafactor Table 2                 -> results/adafactor_table2/
optbench-report report=shootout                 # quality vs memory (MT)        -> results/memory_efficient_shootout/
"""

from __future__ import annotations

import sys
from pathlib import Path

import hydra
import pandas as pd
from omegaconf import DictConfig, OmegaConf

from optbench.errors import OptbenchError
from optbench.paths import config_dir


def comparison(cfg: DictConfig, out: Path, runs, metrics) -> list[Path]:
    from optbench.ranking import frame_direction
    from optbench.report import figures
    from optbench.report.style import save
    from optbench.report.tables import summary_csv, summary_display, summary_table, target_of, write_table

    target = target_of(runs, cfg.target)
    paths = []
    paths += save(figures.pareto(runs), out, "pareto")
    paths += save(figures.curves(runs, metrics), out, "curves")
    paths += save(figures.lr_sensitivity(runs), out, "lr_sensitivity")
    paths += save(figures.memory(runs), out, "memory")
    paths += save(figures.throughput(runs), out, "throughput")
    table = summary_table(runs, metrics, target)
    metric, higher = runs["metric_name"].iloc[0], frame_direction(runs)
    caption = (
        f"{runs['task'].iloc[0]}: each optimizer at its best lr ({'higher' if higher else 'lower'} {metric} is "
        f"better, best first); final {metric} mean ± std over seeds; "
        + (f"time to {target.describe()}" if target is not None else "no target set")
    )
    shown = summary_display(table)
    paths += write_table(
        shown,
        out,
        "summary",
        caption=caption,
        footnote=f"Hardware: {figures.hardware_line(runs)}.",
        csv=summary_csv(table),
    )
    print(shown.to_markdown(index=False, floatfmt=".4g"))
    return paths


def memory(cfg: DictConfig, out: Path) -> list[Path]:
    """Per model: a table (optimizers x precisions as rows, categories as columns) and a stacked-bar figure; one
    CSV of every number."""
    from optbench.report.figures import memory_split
    from optbench.report.memory_table import left_out, left_out_note, memory_display, memory_table, model_caption
    from optbench.report.per_rank import RANKS, per_rank, per_rank_display
    from optbench.report.style import save
    from optbench.report.tables import write_table

    table = memory_table(
        list(cfg.report.models), list(cfg.report.optimizers) or None, list(cfg.report.precisions) or None
    )
    paths = []
    for model, rows in table.groupby("model", sort=False):
        caption = model_caption(rows)
        shown = memory_display(rows)
        print(f"\n{caption}\n" + shown.to_markdown(index=False))
        note = left_out_note(table, str(model))
        if note:
            print(note)
        paths += write_table(shown, out, f"memory_{model}", csv=rows, caption=caption, footnote=note)
        missing = left_out(table, str(model))
        shown_caption = caption + (f"\nleft out: {', '.join(missing)} (see the table's note)" if missing else "")
        paths += save(memory_split(rows, shown_caption), out, f"memory_{model}")
        if model in (cfg.report.get("per_rank_models") or []):
            ranked = per_rank(rows, ranks=tuple(cfg.report.get("ranks") or RANKS))
            paths += write_table(
                per_rank_display(ranked),
                out,
                f"per_rank_{model}",
                csv=ranked,
                caption=f"{caption}, per rank over N data-parallel ranks (DDP, ZeRO-1, ZeRO-2, FSDP / ZeRO-3)",
            )
    table.to_csv(out / "memory.csv", index=False)
    return [*paths, out / "memory.csv"]


def table2_report(out: Path, runs, noise_stores=()) -> list[Path]:
    """One table (Markdown, LaTeX, CSV) and one BLEU figure per budget the runs were made at; under each table,
    the task's seed-to-seed noise at that budget, from the runs and those of ``noise_stores``."""
    from optbench.report.style import save
    from optbench.report.table2 import bleu_figure, budget_line, noise_line, records_line, table2
    from optbench.report.tables import write_table
    from optbench.units import human_bytes

    budgets = runs["table2.budget"].fillna("full") if "table2.budget" in runs else pd.Series("full", runs.index)
    paths = []
    for budget in sorted(budgets.unique()):
        group = runs[budgets == budget].reset_index(drop=True)
        table, footnote = table2(group)
        shown = table.assign(**{"state bytes": table["state bytes"].map(human_bytes)})
        shown = shown.rename(columns={"state bytes": "optimizer state"})
        footnote = f"{budget_line(group, budget)} {footnote} {noise_line(group, noise_stores)}"
        print(f"\n== budget: {budget}")
        print(shown.to_markdown(index=False))
        print(footnote)
        caption = f"Adafactor ablation (Shazeer & Stern 2018, Table 2 layout), {budget} budget ({records_line(group)})"
        paths += write_table(shown, out, f"table2_{budget}", caption=caption, footnote=footnote, csv=table)
        seeds = group["seed"].nunique()
        spread = f"{seeds} seeds; bars: mean, whiskers: ±1 std" if seeds > 1 else "one seed"
        what = (
            f"Adafactor ablation on {group['task'].iloc[0]}, {budget} budget: test BLEU per setting "
            f"({records_line(group)}; {spread})"
        )
        figure = bleu_figure(group, what)
        paths += save(figure, out, f"bleu_{budget}")
    return paths


def shootout_report(out: Path, runs) -> list[Path]:
    """The memory-efficient shootout: one table (Markdown, LaTeX, CSV) and the quality-vs-memory figure."""
    from optbench.report.shootout import quality_vs_memory, shootout_display, shootout_table
    from optbench.report.style import save
    from optbench.report.table2 import joined, records_line
    from optbench.report.tables import write_table

    table = shootout_table(runs)
    shown = shootout_display(table)
    first = runs.iloc[0]
    each = (pd.to_datetime(runs["end_time"]) - pd.to_datetime(runs["start_time"])).dt.total_seconds()
    footnote = (
        f"{first['task']}: {first.get('precision', 'fp32')}, {int(first['planned_steps'])} steps, lr picked on seed "
        f"{int(runs['seed'].min())} by validation loss from each optimizer's grid, then seeds "
        f"{sorted(int(s) for s in runs['seed'].unique())}; test BLEU with beam "
        f"{joined(runs, 'final_beam', lambda b: str(int(b)))} "
        f"({first.get('final_bleu_signature', 'sacreBLEU')}). Memory: the training step's peak by category "
        f"(MemTracker, steps 2-3). {len(runs)} runs on {first.get('device')} ({int(first.get('threads') or 0)} "
        f"threads, torch {first.get('torch_version')}), {each.sum() / 60:.0f} min in all."
    )
    caption = "Quality against memory on translation: Adam and the memory-efficient optimizers"
    print(shown.to_markdown(index=False))
    print(footnote)
    paths = write_table(shown, out, "shootout", caption=caption, footnote=footnote, csv=table)
    what = f"{caption} ({first['task']}: {records_line(runs)}; whiskers: ±1 std over seeds)"
    return paths + save(quality_vs_memory(table, what), out, "quality_vs_memory")


def trajectories(out: Path, runs, metrics) -> list[Path]:
    from optbench.report import trajectories as traj
    from optbench.report.style import save

    best = traj.best_runs(runs)
    print(best[["lr", "final_metric"]].rename(columns={"final_metric": "final value"}).to_markdown(floatfmt=".4g"))
    return save(traj.gallery(runs, metrics), out, "gallery") + save(traj.overlay(runs, metrics), out, "overlay")


def load(cfg: DictConfig, filters: dict):
    """(runs, metrics) from the configured source; OptbenchError when the source cannot be read. From W&B, the
    runs' ``run-record`` artifacts are first written into a local store (``wandb.store_dir``), so every report
    renders exactly as from the store the sweep wrote."""
    from optbench.report.data import load_runs
    from optbench.tracking import wandb_records

    if cfg.source == "store":
        return load_runs(cfg.store_dir, **filters)
    if cfg.source != "wandb":
        raise OptbenchError(f"source={cfg.source!r} is not valid; choose store (local) or wandb (W&B run records).")
    if cfg.wandb.get("offline_dir"):
        folders = [cfg.wandb.offline_dir] if isinstance(cfg.wandb.offline_dir, str) else list(cfg.wandb.offline_dir)
        missing = [f for f in folders if not Path(f).is_dir()]
        if missing:
            raise OptbenchError(
                f"wandb.offline_dir: no such folder {', '.join(missing)}; name the folder that holds "
                "the offline W&B runs (wandb/offline-run-*), e.g. outputs/."
            )
        store = wandb_records.from_offline(folders, cfg.wandb.store_dir)
        return load_runs(str(store.root), **filters)
    try:
        store = wandb_records.from_project(cfg.wandb.project, cfg.wandb.entity, cfg.wandb.store_dir)
    except OptbenchError:
        raise
    except Exception as exc:  # noqa: BLE001 - no login, no network, no such project: all are the user's to fix
        raise OptbenchError(
            f"could not read W&B project {cfg.wandb.project!r} ({type(exc).__name__}: "
            f"{str(exc).splitlines()[0] if str(exc) else 'no details'}). Log in with `wandb login` (and check "
            f"wandb.project / wandb.entity), read offline runs with wandb.offline_dir=FOLDER, or render from the "
            f"local store with source=store."
        ) from None
    return load_runs(str(store.root), **filters)


def scoring(cfg: DictConfig, out: Path) -> list[Path]:
    """Every optimizer across the tasks of report.stores (report.tasks of them), with the speedup tables."""
    from optbench.report.workloads import render as scoring_report

    stores = {t: str(Path(s).absolute()) for t, s in cfg.report.stores.items() if s is not None}  # from cwd
    speedup = cfg.report.speedup
    for key, chosen in (("report.tasks", cfg.report.get("tasks")), ("report.speedup.tasks", speedup.get("tasks"))):
        unknown = [t for t in chosen or [] if t not in stores]
        if unknown:
            raise OptbenchError(
                f"{key} names {unknown}, which report.stores does not list; it lists {', '.join(stores)} "
                f"(add one with '+report.stores.<task>=<store folder>')."
            )
    ranked = stores if cfg.report.get("tasks") is None else {t: stores[t] for t in cfg.report.tasks}
    return scoring_report(
        out,
        ranked,
        dict(cfg.report.targets),
        cfg.report.tau_max,
        speedup.reference,
        speedup.sweep,
        None if speedup.get("tasks") is None else {t: stores[t] for t in speedup.tasks},
        cfg.report.get("seconds", "measured"),
    )


def output_folder(out_root: str, name: str, store_dir: str) -> Path:
    """Where a report over ``store_dir`` writes: ``out_root/name``, unless that folder is a committed study's (it
    holds its own ``store/``) and the report reads another store; then ``out_root/reports/name``, said on stderr.
    Only a study's own report (over its own store) writes into its folder."""
    out = Path(out_root) / name
    own = out / "store"
    if (own / "runs").is_dir() and own.resolve() != Path(store_dir).resolve():
        moved = Path(out_root) / "reports" / name
        print(
            f"optbench-report: {out} is a study's folder, made from {own}; this report reads {store_dir}, so it "
            f"goes to {moved} instead.",
            file=sys.stderr,
        )
        return moved
    return out


def render(cfg: DictConfig) -> list[Path]:
    from optbench.config import check_name

    for key, value in (("name", cfg.name), ("report.name", cfg.report.get("name"))):
        if value is not None:
            check_name(key, value)  # the output folder under out_root
    filters = OmegaConf.to_container(cfg.filters, resolve=True)
    if cfg.report.kind == "memory":
        return memory(cfg, Path(cfg.out_root) / cfg.name)
    if cfg.report.kind == "scoring":
        return scoring(cfg, Path(cfg.out_root) / cfg.name)
    runs, metrics = load(cfg, filters)
    store = cfg.store_dir if cfg.source == "store" else cfg.wandb.store_dir
    if cfg.report.kind == "table2":
        noise_stores = [s for s in cfg.report.get("noise_stores") or [] if Path(s, "runs").is_dir()]
        return table2_report(output_folder(cfg.out_root, cfg.name, store), runs, noise_stores)
    if cfg.report.kind == "shootout":
        return shootout_report(output_folder(cfg.out_root, cfg.name, store), runs)
    tasks = sorted(runs["task"].unique())
    if cfg.report.kind == "trajectories":
        if len(tasks) > 1:
            raise OptbenchError(
                f"report=trajectories draws one 2-D function; the runs hold {tasks}: choose one with filters.task=NAME."
            )
        name = cfg.report.name or f"trajectories_{tasks[0]}"
        return trajectories(output_folder(cfg.out_root, name, store), runs, metrics)
    paths = []
    for task in tasks:  # one comparison per task: metrics of different tasks are never ranked together
        task_runs = runs[runs["task"] == task].reset_index(drop=True)
        task_metrics = metrics[metrics["run_id"].isin(task_runs["run_id"])] if not metrics.empty else metrics
        # name= names the folder: of the one task's report, or the folder of each task's when there are several
        name = (cfg.name if len(tasks) == 1 else f"{cfg.name}/{task}") if cfg.name else task
        out = output_folder(cfg.out_root, name, store)
        if len(tasks) > 1:
            print(f"\n== {task}")
        paths += comparison(cfg, out, task_runs, task_metrics)
    return paths


@hydra.main(version_base="1.3", config_path=str(config_dir()), config_name="report")
def app(cfg: DictConfig) -> None:
    try:
        paths = render(cfg)
    except OptbenchError as exc:
        print(f"optbench-report: error: {exc}", file=sys.stderr, flush=True)
        sys.exit(2)
    folders = sorted({str(p.parent) for p in paths})
    print(f"\nWrote {len(paths)} files to {', '.join(folders)}:")
    for p in paths:
        print(f"  {p}")


def main() -> None:
    from optbench.cli import print_version_and_exit

    print_version_and_exit("optbench-report")
    app()
