"""The table printed at the end of a run or sweep, and the Hydra callback that prints it.

Each job leaves ``optbench_run.json`` (run id and store folder) in its Hydra output folder, so the callback finds the
runs of a sweep whatever launcher ran them, including runs skipped because an earlier sweep finished them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from optbench.tracking.store import RunStore
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
    rows = []
    for s in summaries:
        metric = s.get("metric_name") or "metric"
        rows.append(
            {
                "optimizer": s.get("label") or s.get("optimizer"),
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
                "status": s.get("status") + (f" ({s['reason']})" if s.get("status") != "finished" else ""),
            }
        )
    return pd.DataFrame(rows, columns=list(COLUMNS)).rename(columns=COLUMNS)


def format_summary(summaries: list[dict[str, Any]]) -> str:
    table = summary_frame(summaries).to_markdown(index=False, floatfmt=".4g")
    wandb_dirs = sorted({s["wandb_dir"] for s in summaries if s.get("wandb_dir")})
    lines = [table]
    if wandb_dirs:
        lines.append("W&B runs (sync with `wandb sync <dir>`):")
        lines += [f"  {d}" for d in wandb_dirs]
    stores = sorted({str(Path(s["record_dir"]).parent.parent) for s in summaries if s.get("record_dir")})
    lines += [f"Local store: {s}" for s in stores]
    return "\n".join(lines)


def write_marker(output_dir: str | Path, rid: str, store_dir: str) -> None:
    Path(output_dir, MARKER).write_text(json.dumps({"run_id": rid, "store_dir": store_dir}) + "\n")


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
        summary = store.summary(marker["run_id"])
        if summary is not None:
            out.append(summary)
    return out


class SummaryCallback(Callback):
    """Prints the summary table after a single run and after a whole sweep."""

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        sweep_dir = Path(config.hydra.sweep.dir)
        markers = sorted(
            sweep_dir.glob(f"*/{MARKER}"), key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0
        )
        summaries = summaries_from_markers(markers)
        if summaries:
            print(f"\n{len(summaries)} runs in sweep {sweep_dir}:\n" + format_summary(summaries), flush=True)

    def on_run_end(self, config: DictConfig, **kwargs: Any) -> None:
        summaries = summaries_from_markers(list(Path(config.hydra.runtime.output_dir).glob(MARKER)))
        if summaries:
            print("\n" + format_summary(summaries), flush=True)
