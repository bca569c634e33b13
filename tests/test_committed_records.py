"""Every committed record (results/*/store) is portable: no absolute path, no path that climbs out of the
checkout, no host name, no model weights."""

from __future__ import annotations

import json
import re
import socket

from .conftest import REPO

RECORDS = sorted((REPO / "results").glob("*/store/runs/*"))


def strings(value):
    if isinstance(value, dict):
        for item in value.values():
            yield from strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from strings(item)
    elif isinstance(value, str):
        yield value


def test_the_committed_records_name_no_machine():
    assert len(RECORDS) > 100  # the committed stores are there to check
    host = re.compile(rf"\b{re.escape(socket.gethostname())}\b")
    for record in RECORDS:
        for name in ("config.json", "summary.json"):
            text = (record / name).read_text()
            assert "hostname" not in text, record / name
            for value in strings(json.loads(text)):
                assert not value.startswith(("/", "~", "..")) and "/../" not in value, (record / name, value)
                assert not host.search(value), (record / name, value)
        assert not list(record.rglob("model.pt")), record  # records only, no weights


def test_no_lock_files_are_committed():
    import subprocess

    tracked = subprocess.run(["git", "ls-files", "results"], cwd=REPO, capture_output=True, text=True).stdout
    assert not [line for line in tracked.splitlines() if line.endswith(".lock")]


def test_the_committed_galleries_rerender_from_their_own_records(tmp_path):
    from .conftest import render_committed

    for task in ("rosenbrock", "rastrigin"):
        store = f"store_dir=results/trajectories_{task}/store"
        out = render_committed("trajectories", tmp_path, f"filters.task={task}", store)
        assert out.returncode == 0, out.stderr[-2000:]
        assert (tmp_path / f"trajectories_{task}" / "gallery.png").stat().st_size > 50_000
        assert "| adam " in out.stdout  # the picked lrs, per optimizer
