"""The local results store: one directory per run, written atomically, keyed by a hash of the config.

Layout::

    <store_dir>/runs/<run_id>/config.json    resolved config
                             metrics.parquet per-step rows (train and eval)
                             summary.json    status, final metrics, memory, throughput, provenance
                             model.pt        final weights (state_dict), only with save_model=true

A run is written into ``<store_dir>/.tmp/`` and renamed into place only when complete, so a killed process never
leaves a half record. Reports read the store through :func:`load_summaries` and :func:`load_metrics`.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import uuid
from pathlib import Path
from typing import Any

import pandas as pd

# Keys that say where things are written or how they are logged, not what is computed: left out of the run id.
NON_IDENTITY_KEYS = (
    "store_dir",
    "cache_dir",
    "data_root",
    "force",
    "logger",
    "sweep",
    "tags",
    "threads",
    "save_model",
    "hydra",
)
# Outcomes that a re-run of the same config skips (failed runs are retried).
COMPLETE_STATUSES = ("finished", "diverged")


def run_id(config: dict[str, Any]) -> str:
    """Deterministic id: '<task>-<optimizer>-<12 hex of the config hash>' over identity keys only."""
    identity = {k: v for k, v in config.items() if k not in NON_IDENTITY_KEYS}
    digest = hashlib.sha256(json.dumps(identity, sort_keys=True, default=str).encode()).hexdigest()[:12]
    return f"{config['task']['name']}-{config['optimizer']['name']}-{digest}"


def _write_json(path: Path, obj: Any) -> None:
    path.write_text(json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n")


class RunStore:
    def __init__(self, root: str | os.PathLike) -> None:
        self.root = Path(root)
        self.runs = self.root / "runs"

    def run_dir(self, rid: str) -> Path:
        return self.runs / rid

    def summary(self, rid: str) -> dict[str, Any] | None:
        path = self.run_dir(rid) / "summary.json"
        return json.loads(path.read_text()) if path.is_file() else None

    def is_complete(self, rid: str) -> bool:
        summary = self.summary(rid)
        return summary is not None and summary.get("status") in COMPLETE_STATUSES

    def commit(
        self, rid: str, config: dict, metrics: list[dict], summary: dict, files: dict[str, bytes] | None = None
    ) -> Path:
        """Write the whole record (plus optional extra ``files``, e.g. model.pt) to a temporary folder, then move it
        into place."""
        tmp = self.root / ".tmp" / f"{rid}-{uuid.uuid4().hex[:8]}"
        tmp.mkdir(parents=True)
        for name, data in (files or {}).items():
            (tmp / name).write_bytes(data)
        _write_json(tmp / "config.json", config)
        pd.DataFrame(metrics).to_parquet(tmp / "metrics.parquet", index=False)
        _write_json(tmp / "summary.json", summary)
        for f in tmp.iterdir():
            with open(f, "rb") as fh:
                os.fsync(fh.fileno())
        final = self.run_dir(rid)
        final.parent.mkdir(parents=True, exist_ok=True)
        if final.exists():  # a forced or retried run replaces the old record
            old = self.root / ".tmp" / f"{rid}-old-{uuid.uuid4().hex[:8]}"
            os.rename(final, old)
            os.rename(tmp, final)
            shutil.rmtree(old)
        else:
            os.rename(tmp, final)
        return final


def load_summaries(root: str | os.PathLike) -> pd.DataFrame:
    """One row per run in the store, with config columns flattened (``optimizer.lr``, ``task.name``...)."""
    rows = []
    for summary_path in sorted(Path(root, "runs").glob("*/summary.json")):
        summary = json.loads(summary_path.read_text())
        config = json.loads((summary_path.parent / "config.json").read_text())
        row = pd.json_normalize(config, sep=".").iloc[0].to_dict() if config else {}
        row.update(summary)
        rows.append(row)
    return pd.DataFrame(rows)


def load_metrics(root: str | os.PathLike, rids: list[str] | None = None) -> pd.DataFrame:
    """Per-step rows of the given runs (all runs when None), with a ``run_id`` column."""
    frames = []
    for path in sorted(Path(root, "runs").glob("*/metrics.parquet")):
        rid = path.parent.name
        if rids is None or rid in rids:
            frames.append(pd.read_parquet(path).assign(run_id=rid))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
