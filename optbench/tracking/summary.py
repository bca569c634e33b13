"""The table printed at the end of a run or sweep, and the Hydra callback that prints it.

Each job leaves ``optbench_run.json`` (run id and store folder) in its Hydra output folder, so the callback finds the
runs of a sweep whatever launcher ran them, including runs skipped because an earlier sweep finished them.
"""

from __future__ import annotations

import glob
import json
import os
import sys
from pathlib import Path
from typing import Any

import pandas as pd
from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from optbench.progress import plan_jobs
from optbench.tracking.naming import family_labels
from optbench.tracking.store import RunStore, family, read_record
from optbench.units import human_bytes, human_count

MARKER = "optbench_run.json"

COLUMNS = {  # summary key -> printed header
    "optimizer": "optimizer",
    "seed": "seed",
    "lr": "lr",
    "precision": "precision",
    "metric": "test metric",
    "final_train_loss": "final train loss",
    "throughput": "throughput/s",
    "state_bytes": "optimizer state",
    "state_bytes_analytic": "analytic",
    "status": "status",
}


def summary_frame(summaries: list[dict[str, Any]]) -> pd.DataFrame:
    """One row per run; runs whose configs differ in more than the seed and the lr are named apart by what differs
    (a summary's ``family``, from ``store.family``: 'momentum, nesterov=true')."""
    rows = []
    labels = family_labels(
        [str(s.get("label") or s.get("optimizer")) for s in summaries],
        [json.loads(s["family"]) if isinstance(s.get("family"), str) else {} for s in summaries],
        [str(s.get("task")) for s in summaries],
    )
    for s, label in zip(summaries, labels, strict=True):
        metric = s.get("metric_name") or "metric"
        rows.append(
            {
                "optimizer": label,
                "seed": s.get("seed"),
                "lr": s.get("lr"),
                "precision": s.get("precision", "fp32"),
                "metric": f"{metric}={s['final_metric']:.4f}" if s.get("final_metric") is not None else "-",
                "final_train_loss": s.get("final_train_loss"),
                "throughput": (
                    f"{human_count(s['throughput'])} {s.get('unit', '')}" if s.get("throughput") is not None else "-"
                ),
                "state_bytes": human_bytes(s.get("state_bytes")),
                "state_bytes_analytic": (
                    human_bytes(s["state_bytes_analytic"]) if s.get("state_bytes_analytic") is not None else "unknown"
                ),
                "status": str(s.get("status")) + (f" ({s['reason']})" if s.get("status") != "finished" else ""),
            }
        )
    return pd.DataFrame(rows, columns=list(COLUMNS)).rename(columns=COLUMNS)


def sync_command(wandb_dirs: list[str]) -> str | None:
    """The `wandb sync` command that uploads the offline W&B runs this command wrote (None if it wrote none):
    their folders, or one glob over a sweep's job folders, relative to the working directory."""
    offline = sorted({os.path.relpath(d) for d in wandb_dirs if d and Path(d).name.startswith("offline-run-")})
    if not offline:
        return None
    if len(offline) == 1:
        return f"wandb sync {offline[0]}"
    # a sweep's runs: <sweep dir>/<job>/wandb/offline-run-*, one glob when it names exactly these folders
    parents = {str(Path(d).parents[2]) for d in offline if len(Path(d).parts) > 3}
    if len(parents) == 1 and all(Path(d).parent.name == "wandb" for d in offline):
        pattern = str(Path(next(iter(parents)), "*", "wandb", "offline-run-*"))
        if sorted(os.path.relpath(d) for d in glob.glob(pattern)) == offline:
            return f"wandb sync {pattern}"
    return "wandb sync " + " ".join(offline)


def format_summary(summaries: list[dict[str, Any]], wandb_dirs: list[str] | None = None) -> str:
    table = summary_frame(summaries).to_markdown(index=False, floatfmt=".4g")
    lines = [table]
    sync = sync_command(wandb_dirs or [])
    if sync:
        lines.append(f"W&B logged offline; upload these runs with:\n  {sync}")
    stores = sorted({str(Path(s["record_dir"]).parent.parent) for s in summaries if s.get("record_dir")})
    lines += [f"Local store: {s}" for s in stores]
    return "\n".join(lines)


def write_marker(
    output_dir: str | Path, rid: str, store_dir: str, wandb_dir: str | None = None, skipped: bool = False
) -> None:
    """The job's marker: its run id and store, whether it was skipped (already in the store), and (once it ran)
    the W&B folder it wrote."""
    marker = {
        "run_id": rid,
        "store_dir": store_dir,
        "wandb_dir": os.path.abspath(wandb_dir) if wandb_dir else None,
        "skipped": skipped,
    }
    Path(output_dir, MARKER).write_text(json.dumps(marker) + "\n")


def wandb_dirs_from_markers(paths: list[Path]) -> list[str]:
    """The W&B run folders the markers' jobs wrote (none for a job skipped because its record was complete)."""
    return [d for p in paths if (d := json.loads(p.read_text()).get("wandb_dir"))]


def summaries_from_markers(paths: list[Path]) -> list[dict[str, Any]]:
    """The stored summaries of the runs the markers name, each run once (a tuning sweep's phase 2 reuses a grid
    run)."""
    out, seen, stores = [], set(), {}
    for path in paths:
        marker = json.loads(path.read_text())
        if marker["run_id"] in seen:
            continue
        seen.add(marker["run_id"])
        if marker["store_dir"] not in stores:  # open (and recover) each store once
            stores[marker["store_dir"]] = RunStore(marker["store_dir"])
        store = stores[marker["store_dir"]]
        record = read_record(store.run_dir(marker["run_id"]))
        if record is not None:
            config, summary = record
            out.append({**summary, "record_dir": str(store.run_dir(marker["run_id"])), "family": family(config)})
    return out


def job_counts(markers: list[Path]) -> str:
    """'16 jobs: 12 trained, 4 already in the store' from a sweep's job markers."""
    skipped = sum(bool(json.loads(p.read_text()).get("skipped")) for p in markers)
    return f"{len(markers)} jobs: {len(markers) - skipped} trained, {skipped} already in the store"


def planned_jobs(config: DictConfig) -> int | None:
    """How many jobs a sweep will launch, for the sweepers whose count is known up front: Hydra's basic sweeper
    (the product of the swept values) and Optuna (n_trials). The tuning sweeper writes its own count."""
    sweeper = config.hydra.sweeper
    target = str(sweeper.get("_target_", ""))
    if target.endswith("BasicSweeper"):
        from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
        from hydra.core.override_parser.overrides_parser import OverridesParser

        params = [f"{k}={v}" for k, v in (sweeper.get("params") or {}).items()]
        overrides = OverridesParser.create().parse_overrides([*params, *config.hydra.overrides.task])
        return sum(len(batch) for batch in BasicSweeper.split_arguments(overrides, None))
    if "optuna" in target.lower():
        return int(sweeper.n_trials)
    return None


def failed_runs(summaries: list[dict[str, Any]]) -> list[str]:
    """'run id: reason' of each failed run (a diverged run is a result, not a failure)."""
    return [
        f"{s.get('run_id')}: {s.get('reason') or 'no reason recorded'}"
        for s in summaries
        if s.get("status") == "failed"
    ]


# How many runs of the last sweep failed: the `optbench` command exits non-zero when any did.
FAILED = {"runs": 0}


class SummaryCallback(Callback):
    """Prints the summary table after a single run and after a whole sweep, then the sweep's failed runs."""

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        sweep_dir = Path(config.hydra.sweep.dir)
        markers = sorted(
            sweep_dir.glob(f"*/{MARKER}"), key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0
        )
        summaries = summaries_from_markers(markers)
        if summaries:
            table = format_summary(summaries, wandb_dirs_from_markers(markers))
            print(f"\n{len(summaries)} runs in sweep {sweep_dir} ({job_counts(markers)}):\n" + table, flush=True)
        failed = failed_runs(summaries)
        FAILED["runs"] = len(failed)
        if failed:
            print(
                f"optbench: {len(failed)} of {len(summaries)} runs failed (rerunning the sweep retries them; "
                "diverged runs are results, not failures):\n  " + "\n  ".join(failed),
                file=sys.stderr,
                flush=True,
            )

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        total = planned_jobs(config)
        if total is not None:
            plan_jobs(config.hydra.sweep.dir, total)

    def on_run_end(self, config: DictConfig, **kwargs: Any) -> None:
        markers = list(Path(config.hydra.runtime.output_dir).glob(MARKER))
        summaries = summaries_from_markers(markers)
        if summaries:
            print("\n" + format_summary(summaries, wandb_dirs_from_markers(markers)), flush=True)
