"""Store records back out of W&B: the ``run-record`` artifacts each run logs (see wandb_run.py).

``from_project`` downloads them from a W&B server through the public API; ``from_offline`` reads them from offline
run folders (``wandb/offline-run-*``) that were never synced, through W&B's own protobuf records. Either way the
records are written into a local store, which every report reads as it reads the store a sweep wrote.

The offline reader is the one place optbench reads W&B's on-disk format: a ``.wandb`` file is W&B's 7-byte header
and then a LevelDB-style log of ``wandb_internal_pb2.Record`` messages; an artifact record's manifest names the
staged copy of each file.
"""

from __future__ import annotations

import json
import logging
import struct
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from optbench.errors import OptbenchError
from optbench.tracking.store import RunStore
from optbench.tracking.wandb_run import RECORD_ARTIFACT_TYPE, RECORD_FILES

log = logging.getLogger(__name__)

_HEADER = b":W&B"
_BLOCK = 32768
_FULL, _FIRST, _MIDDLE, _LAST = 1, 2, 3, 4


def _log_payloads(path: Path) -> Iterator[bytes]:
    """The records of a ``.wandb`` file (W&B's header, then LevelDB log blocks of 32 KiB whose 7-byte chunk
    headers are crc32, length, type)."""
    data = path.read_bytes()
    if not data.startswith(_HEADER):
        raise ValueError(f"{path} is not a W&B run file")
    pos, parts = 7, []
    while pos + 7 <= len(data):
        left = _BLOCK - pos % _BLOCK
        if left < 7:  # a block's tail too short for a chunk header is padding
            pos += left
            continue
        _crc, length, kind = struct.unpack("<IHB", data[pos : pos + 7])
        chunk = data[pos + 7 : pos + 7 + length]
        pos += 7 + length
        if kind == 0 and length == 0:  # zero padding
            continue
        if kind == _FULL:
            yield chunk
        elif kind == _FIRST:
            parts = [chunk]
        elif kind == _MIDDLE:
            parts.append(chunk)
        elif kind == _LAST:
            parts.append(chunk)
            yield b"".join(parts)
            parts = []


def _offline_artifacts(run_file: Path) -> Iterator[dict[str, Path]]:
    """{file name: staged local path} of each run-record artifact in one offline run file."""
    from wandb.proto import wandb_internal_pb2 as pb

    for payload in _log_payloads(run_file):
        record = pb.Record()  # type: ignore[attr-defined]  # generated protobuf classes
        record.ParseFromString(payload)
        if record.WhichOneof("record_type") != "artifact" or record.artifact.type != RECORD_ARTIFACT_TYPE:
            continue
        yield {entry.path: Path(entry.local_path) for entry in record.artifact.manifest.contents}


def _read(files: dict[str, Path]) -> tuple[str, dict[str, bytes]] | None:
    """(run id, the record's files as bytes), or None when a file is missing (e.g. staged copies already removed
    by ``wandb sync``)."""
    if not all(name in files and files[name].is_file() for name in RECORD_FILES):
        return None
    data = {name: files[name].read_bytes() for name in RECORD_FILES}
    return json.loads(data["summary.json"])["run_id"], data


def _import(records: list[tuple[str, dict[str, bytes]]], store_dir: str | Path, source: str) -> RunStore:
    if not records:
        raise OptbenchError(
            f"no optbench run records ({RECORD_ARTIFACT_TYPE} artifacts) in {source}: runs log them since optbench "
            "0.2; rerun the sweep with W&B on, or render from the local store (source=store)."
        )
    store = RunStore(store_dir)
    for rid, files in records:
        store.import_record(rid, files)  # the newest artifact of a run id wins (a forced rerun replaces)
    return store


def from_offline(folders: list[str | Path], store_dir: str | Path) -> RunStore:
    """Rebuild a store from the run-record artifacts of offline W&B runs under ``folders`` (any depth)."""
    records, unreadable = [], []
    for folder in folders:
        for run_file in sorted(Path(folder).rglob("offline-run-*/run-*.wandb")):
            try:
                for files in _offline_artifacts(run_file):
                    record = _read(files)
                    if record is not None:
                        records.append(record)
            except Exception as exc:  # noqa: BLE001 - a corrupt or half-written run file is skipped, with a note
                unreadable.append(f"{run_file} ({type(exc).__name__})")
    if unreadable:
        log.warning("skipped unreadable W&B run files: %s", ", ".join(unreadable))
    return _import(records, store_dir, "the offline W&B runs under " + ", ".join(map(str, folders)))


def from_project(project: str, entity: str | None, store_dir: str | Path, **filters: Any) -> RunStore:
    """Rebuild a store from the run-record artifacts of a W&B project (online, through ``wandb.Api``)."""
    import wandb

    api = wandb.Api()
    path = f"{entity}/{project}" if entity else project
    records = []
    with tempfile.TemporaryDirectory() as tmp:
        for run in api.runs(path, filters=filters or None):
            for artifact in run.logged_artifacts():
                if artifact.type != RECORD_ARTIFACT_TYPE:
                    continue
                root = Path(artifact.download(root=str(Path(tmp) / artifact.name.replace(":", "_"))))
                record = _read({name: root / name for name in RECORD_FILES})
                if record is not None:
                    records.append(record)
    return _import(records, store_dir, f"W&B project {path}")
