"""The local results store: one directory per run, written atomically, keyed by a hash of the config.

Layout::

    <store_dir>/runs/<run_id>/config.json    resolved config
                             metrics.parquet per-step rows (train and eval)
                             summary.json    status, final metrics, memory, throughput, provenance
                             model.pt        final weights (state_dict), only with save_model=true
    <store_dir>/.tmp/                        records being written (moved into runs/ when complete)
    <store_dir>/.locks/<run_id>.lock         held while a record of that run id is written or recovered

A record is written into ``.tmp/``, fsynced, and renamed into place only when complete, under a per-run-id file
lock, so two processes committing the same run id take turns and a killed process never leaves a half record.
Replacing a record is two renames (old record aside, new one in); a crash between them leaves both in ``.tmp``,
and the next ``RunStore`` opened on the folder finishes the job (or puts the old record back), then removes
anything else a crash left there.

Records are portable: they hold no host name, and the folders a run was given (``data_root``, ``store_dir``,
``cache_dir``, ``logger.dir``, the W&B run folder) are written relative to the directory the run was launched from,
or not at all when they lie outside it (``portable_config``), so a committed store says nothing about the machine
it was made on. None of them is part of the run's identity. ``summary`` adds the
record's own folder (``record_dir``) when it reads one.

A record that cannot be read (empty or corrupt JSON, truncated Parquet, a missing file) counts as absent: resume
redoes it, and reports skip it and list it (``load_summaries(..., skipped=...)``).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import json
import logging
import os
import re
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from optbench.errors import OptbenchError
from optbench.progress import track
from optbench.tracking.naming import neutral_removed, variant_slug

log = logging.getLogger(__name__)

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
    "memory_probe_steps",  # measures memory on a few steps; trains the same
    "tune_metric",  # what a sweeper ranks by; trains the same
)
# Outcomes that a re-run of the same config skips (failed runs are retried).
COMPLETE_STATUSES = ("finished", "diverged")
RECORD_FILES = ("config.json", "metrics.parquet", "summary.json")
RUN_ID_PATTERN = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")
_TMP_NAME = re.compile(r"(?P<rid>.+?)-(?P<old>old-)?[0-9a-f]{8}")
PROBE_BYTES = 1 << 20  # the free space the writability check asks for: a record's JSON and Parquet, roughly


class StoreError(OptbenchError):
    """The store cannot be written (read-only, not a folder, disk full)."""


# Config keys that hold a folder on the machine that ran: stored relative to the launch directory.
LOCATION_KEYS = (("data_root",), ("store_dir",), ("cache_dir",), ("logger", "dir"), ("task", "data_dir"))


def portable_path(path: str | os.PathLike | None, start: str | os.PathLike | None = None) -> str | None:
    """``path`` relative to ``start`` (default: the working directory), so no machine's layout is recorded: a
    folder inside it as a relative path (``results/store``); one outside it (``../shared/data``, ``/mnt/data``) is
    not recorded at all (None): a record holds no path that climbs out of the folder it was made from."""
    if path is None:
        return None
    absolute = os.path.abspath(path)
    relative = os.path.relpath(absolute, os.path.abspath(start or os.getcwd()))
    if relative == ".." or relative.startswith(f"..{os.sep}"):
        return None
    return relative


def portable_config(config: dict[str, Any]) -> dict[str, Any]:
    """A copy of a resolved config with its LOCATION_KEYS made relative (see ``portable_path``)."""
    out = json.loads(json.dumps(config, default=str))
    for keys in LOCATION_KEYS:
        node = out
        for key in keys[:-1]:
            node = node.get(key) if isinstance(node, dict) else None
        if isinstance(node, dict) and isinstance(node.get(keys[-1]), str):
            node[keys[-1]] = portable_path(node[keys[-1]])
    return out


def identity(config: dict[str, Any], keep_lrs: bool = False) -> dict[str, Any]:
    """What a run computes: its config less the keys that say where things go (``NON_IDENTITY_KEYS``), the
    declarations and the switches at their neutral value. The run id hashes it."""
    kept = neutral_removed(config, keep_lrs=keep_lrs)
    return {k: v for k, v in kept.items() if k not in NON_IDENTITY_KEYS}


def family(config: dict[str, Any]) -> str:
    """The run's configuration family: its ``identity`` less the seed and the lr, flattened to ``{dotted key:
    value}`` and written as sorted JSON. Runs of one family on different seeds are one group (never pooled with
    another family's), and a report picks a family's best lr among its lrs."""
    flat = flatten(identity(config))
    flat.pop("seed", None)
    flat.pop("optimizer.lr", None)
    return json.dumps(flat, sort_keys=True, default=str)


def flatten(tree: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"a": {"b": 1}}`` -> ``{"a.b": 1}`` (lists stay values)."""
    out: dict[str, Any] = {}
    for key, value in tree.items():
        if isinstance(value, dict) and value:
            out.update(flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def run_id(config: dict[str, Any], keep_lrs: bool = False) -> str:
    """Deterministic id: '<task>-<optimizer and its variant switches>-<12 hex of the config hash>' over identity
    keys only (declarations and switches at their neutral value leave it unchanged: see naming.py)."""
    identity_ = identity(config, keep_lrs=keep_lrs)
    digest = hashlib.sha256(json.dumps(identity_, sort_keys=True, default=str).encode()).hexdigest()[:12]
    return f"{config['task']['name']}-{variant_slug(config)}-{digest}"


def earlier_run_ids(config: dict[str, Any]) -> list[str]:
    """Ids the same run was stored under before the task's ``lrs`` table left the identity; a store holding one of
    them already has the run."""
    return [legacy for legacy in (run_id(config, keep_lrs=True),) if legacy != run_id(config)]


def _write_json(path: Path, obj: Any) -> None:
    path.write_text(json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n")


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def read_record(run_dir: Path) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """(config, summary) of a readable, whole record; None if any of its files is missing or unreadable."""
    try:
        summary = json.loads((run_dir / "summary.json").read_text())
        config = json.loads((run_dir / "config.json").read_text())
        pq.read_metadata(run_dir / "metrics.parquet")
    except (OSError, ValueError, pa.ArrowException):
        return None
    if not isinstance(summary, dict) or not isinstance(config, dict):
        return None
    return config, summary


class RunStore:
    def __init__(self, root: str | os.PathLike, recover: bool = True) -> None:
        self.root = Path(root)
        self.runs = self.root / "runs"
        self.tmp = self.root / ".tmp"
        self.locks = self.root / ".locks"
        if recover and self.tmp.is_dir():
            self.recover()

    def run_dir(self, rid: str) -> Path:
        """The record folder of ``rid``, which must be a plain name inside ``runs/``."""
        path = self.runs / rid
        if not RUN_ID_PATTERN.fullmatch(rid) or path.resolve().parent != self.runs.resolve():
            raise OptbenchError(f"run id {rid!r} would leave the store's runs/ folder; names must be plain.")
        return path

    def summary(self, rid: str) -> dict[str, Any] | None:
        """The stored summary of ``rid`` with its ``record_dir``; None when there is no readable, whole record."""
        record = read_record(self.run_dir(rid))
        return {**record[1], "record_dir": str(self.run_dir(rid))} if record is not None else None

    def is_complete(self, rid: str) -> bool:
        summary = self.summary(rid)
        return summary is not None and summary.get("status") in COMPLETE_STATUSES

    def check_writable(self) -> None:
        """Raise StoreError unless a record can be written here now (checked before training starts)."""
        probe = self.tmp / f"probe-{uuid.uuid4().hex[:8]}"
        try:
            for folder in (self.runs, self.tmp, self.locks):
                folder.mkdir(parents=True, exist_ok=True)
            with open(probe, "wb") as fh:
                fh.write(b"\0" * PROBE_BYTES)
                fh.flush()
                os.fsync(fh.fileno())
        except OSError as exc:
            raise StoreError(
                f"the results store {self.root} cannot be written ({_os_reason(exc)}). Point store_dir (or "
                f"OPTBENCH_STORE) at a writable folder with free space; nothing was trained."
            ) from None
        finally:
            with contextlib.suppress(OSError):
                probe.unlink()

    @contextlib.contextmanager
    def _lock(self, rid: str, blocking: bool = True) -> Iterator[bool]:
        self.locks.mkdir(parents=True, exist_ok=True)
        with open(self.locks / f"{rid}.lock", "a") as fh:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
            except BlockingIOError:
                yield False
                return
            try:
                yield True
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def commit(
        self, rid: str, config: dict, metrics: list[dict], summary: dict, files: dict[str, bytes] | None = None
    ) -> Path:
        """Write the whole record (plus optional extra ``files``, e.g. model.pt) to a temporary folder, then move it
        into place. Raises StoreError, leaving nothing behind, when the disk refuses it."""

        def write(tmp: Path) -> None:
            for name, data in (files or {}).items():
                (tmp / name).write_bytes(data)
            _write_json(tmp / "config.json", config)
            pd.DataFrame(metrics).to_parquet(tmp / "metrics.parquet", index=False)
            _write_json(tmp / "summary.json", summary)  # last: a tmp record with a summary is whole

        return self._commit(rid, write)

    def import_record(self, rid: str, files: dict[str, bytes]) -> Path:
        """A whole record from its files' bytes (config.json, summary.json, metrics.parquet, e.g. a W&B
        ``run-record`` artifact), byte for byte, as atomically as ``commit``."""

        def write(tmp: Path) -> None:
            for name in sorted(files, key=lambda n: n == "summary.json"):  # summary last
                (tmp / name).write_bytes(files[name])

        return self._commit(rid, write)

    def _commit(self, rid: str, write) -> Path:
        final = self.run_dir(rid)
        tmp = self.tmp / f"{rid}-{uuid.uuid4().hex[:8]}"
        try:
            with self._lock(rid):
                tmp.mkdir(parents=True)
                write(tmp)
                for f in tmp.iterdir():
                    with open(f, "rb") as fh:
                        os.fsync(fh.fileno())
                _fsync_dir(tmp)
                self._move_into_place(tmp, final, rid)
        except OSError as exc:
            shutil.rmtree(tmp, ignore_errors=True)
            raise StoreError(
                f"the record of run {rid} could not be written to {self.root} ({_os_reason(exc)}); the store's "
                f"other records are untouched. Free some space or fix the folder, then run the same command again."
            ) from None
        return final

    def _move_into_place(self, tmp: Path, final: Path, rid: str) -> None:
        """tmp -> final, replacing an older record; called with the run id's lock held."""
        final.parent.mkdir(parents=True, exist_ok=True)
        old = None
        if final.exists():  # a forced or retried run replaces the old record
            old = self.tmp / f"{rid}-old-{uuid.uuid4().hex[:8]}"
            os.rename(final, old)
        os.rename(tmp, final)
        _fsync_dir(final.parent)
        _fsync_dir(self.tmp)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)

    def recover(self) -> None:
        """Finish or undo what a crashed commit left in ``.tmp``; skip entries whose run id is being written."""
        for entry in sorted(self.tmp.iterdir()):
            match = _TMP_NAME.fullmatch(entry.name)
            if match is None or not RUN_ID_PATTERN.fullmatch(match["rid"]):
                if entry.name.startswith("probe-"):
                    with contextlib.suppress(OSError):
                        entry.unlink()
                continue
            rid = match["rid"]
            try:
                with self._lock(rid, blocking=False) as held:
                    if not held:
                        continue  # a live process is writing this run id
                    final = self.run_dir(rid)
                    whole = entry.is_dir() and read_record(entry) is not None
                    if whole and not final.exists():
                        os.rename(entry, final)  # the new record (or the old one, put back) takes its place
                        log.info("Store: recovered the record of %s left by an interrupted commit", rid)
                    else:
                        shutil.rmtree(entry, ignore_errors=True)
            except OSError:
                continue  # a read-only store: nothing to fix from here


def _os_reason(exc: OSError) -> str:
    if exc.errno == errno.ENOSPC:
        return "no space left on the device"
    if exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
        return "read-only or not permitted"
    if exc.errno in (errno.ENOTDIR, errno.EEXIST):
        return f"a file is in the way: {exc.filename}"
    return exc.strerror or str(exc)


def load_summaries(root: str | os.PathLike, skipped: list[str] | None = None, families: bool = False) -> pd.DataFrame:
    """One row per readable run in the store, with config columns flattened (``optimizer.lr``, ``task.name``...)
    and, with ``families``, its configuration ``family``. The run ids of unreadable records are appended to
    ``skipped`` when given."""
    rows = []
    run_dirs = sorted(p for p in Path(root, "runs").glob("*") if p.is_dir())
    for run_dir in track(run_dirs, "reading the store", unit="record", min_items=100):
        record = read_record(run_dir)
        if record is None:
            if skipped is not None:
                skipped.append(run_dir.name)
            continue
        config, summary = record
        row = pd.json_normalize(config, sep=".").iloc[0].to_dict() if config else {}
        row.update(summary)
        if families:
            row["family"] = family(config)
        rows.append(row)
    return pd.DataFrame(rows)


def load_metrics(root: str | os.PathLike, rids: list[str] | None = None, skipped: list[str] | None = None):
    """Per-step rows of the given runs (all runs when None), with a ``run_id`` column; runs whose Parquet file
    cannot be read are left out (and appended to ``skipped`` when given)."""
    frames = []
    for path in sorted(Path(root, "runs").glob("*/metrics.parquet")):
        rid = path.parent.name
        if rids is None or rid in rids:
            try:
                frames.append(pd.read_parquet(path).assign(run_id=rid))
            except (OSError, ValueError, pa.ArrowException):
                if skipped is not None:
                    skipped.append(rid)
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
