"""Fault injection: kill -9, SIGINT, concurrent commits, crashes inside a commit, corrupt records, an unwritable or
full store, an unreachable W&B server. Nothing finished is lost, nothing partial is kept, no traceback."""

from __future__ import annotations

import contextlib
import errno
import json
import multiprocessing
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pandas as pd
import pytest

from optbench import runner
from optbench.errors import OptbenchError
from optbench.tracking.store import RunStore, StoreError, load_metrics, load_summaries

from .conftest import compose_config
from .test_cli import FAST, optbench, optbench_env, summaries

ROWS = [{"step": 1, "split": "train", "loss": 2.0}]


def default_sigint() -> None:
    """In the child: SIGINT back to its default, so Python turns it into KeyboardInterrupt even when this test
    runs in a background job (which starts with SIGINT ignored, and the child would inherit that)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def popen(cwd: Path, *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "optbench", *args],
        cwd=cwd,
        env=optbench_env(),
        preexec_fn=default_sigint,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for(predicate, timeout: float = 120.0, every: float = 0.2) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(every)
    return False


def first_train_row_logged(cwd: Path) -> bool:
    """Training has started: tqdm shows in stderr only on a TTY, so look for the run's start line."""
    return any(cwd.rglob("optbench_run.json"))


def store_is_clean(store: Path) -> None:
    runs = list((store / "runs").iterdir()) if (store / "runs").exists() else []
    assert runs == [], runs
    leftovers = list((store / ".tmp").iterdir()) if (store / ".tmp").exists() else []
    assert leftovers == [], leftovers


# ---------------------------------------------------------------------------------------------------- signals


LONG = [*FAST, "task.epochs=100000", "logger=none"]


@contextlib.contextmanager
def running(proc: subprocess.Popen):
    """The process, killed on the way out whatever the test's outcome (a long training run never outlives it)."""
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)


def test_sigint_prints_one_line_exits_130_and_stores_nothing(tmp_path, idx_dir):
    with running(popen(tmp_path, f"task.data_dir={idx_dir}", *LONG)) as proc:
        assert wait_for(lambda: first_train_row_logged(tmp_path))
        time.sleep(2.0)  # well inside the training loop
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err[-2000:]
    assert "Traceback" not in err and err.strip().splitlines()[-1].startswith("optbench: interrupted")
    store_is_clean(tmp_path / "results/store")


def test_kill_9_mid_run_leaves_nothing_partial_and_the_rerun_completes(tmp_path, idx_dir):
    with running(popen(tmp_path, f"task.data_dir={idx_dir}", *LONG)) as proc:
        assert wait_for(lambda: first_train_row_logged(tmp_path))
        time.sleep(1.0)
        proc.kill()
        proc.wait(timeout=30)
    store_is_clean(tmp_path / "results/store")
    done = optbench(tmp_path, f"task.data_dir={idx_dir}", *FAST, "logger=none")
    assert done.returncode == 0 and [s["status"] for s in summaries(tmp_path)] == ["finished"]


def processes_of(main_pid: int) -> list[int]:
    """Processes started by the optbench process ``main_pid`` (they inherit OPTBENCH_MAIN_PID=<main_pid>)."""
    marker = f"OPTBENCH_MAIN_PID={main_pid}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != main_pid:
            try:
                if marker in (entry / "environ").read_bytes().split(b"\0"):
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


@pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="needs Linux /proc")
def test_kill_9_of_a_parallel_sweep_takes_its_workers_down(tmp_path, idx_dir):
    pytest.importorskip("hydra_plugins.hydra_joblib_launcher")
    proc = popen(tmp_path, "-m", "hydra/launcher=parallel", "seed=0,1", f"task.data_dir={idx_dir}", *LONG)
    try:
        with running(proc):
            assert wait_for(lambda: len(list(tmp_path.rglob("optbench_run.json"))) >= 1)
            workers = processes_of(proc.pid)
            assert workers, "the parallel launcher started no worker processes"
            proc.kill()
            proc.wait(timeout=30)
            assert wait_for(lambda: not any(Path(f"/proc/{w}").exists() for w in workers), timeout=20)
    finally:
        for pid in processes_of(proc.pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
    store_is_clean(tmp_path / "results/store")


# ---------------------------------------------------------------------------------------------------- the store


def _commit_same_id(root: str, i: int) -> None:
    RunStore(root).commit("t-adam-000000000000", {"i": i}, ROWS, {"status": "finished", "i": i})


def test_concurrent_commits_of_one_run_id_take_turns(tmp_path):
    ctx = multiprocessing.get_context("spawn")  # not fork: the parent holds threads (torch, arrow)
    procs = [ctx.Process(target=_commit_same_id, args=(str(tmp_path), i)) for i in range(6)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    assert [p.exitcode for p in procs] == [0] * 6
    store = RunStore(tmp_path)
    summary = store.summary("t-adam-000000000000")
    assert summary["status"] == "finished"
    config = json.loads((store.run_dir("t-adam-000000000000") / "config.json").read_text())
    assert config["i"] == summary["i"]  # one whole record, not a mix of two
    assert list((tmp_path / ".tmp").iterdir()) == []


def test_a_crash_between_the_two_renames_is_recovered_on_the_next_open(tmp_path, monkeypatch):
    store = RunStore(tmp_path)
    store.commit("r-a-1", {"v": 1}, ROWS, {"status": "finished", "v": 1})
    real_rename = os.rename
    calls = []

    def crash_on_second(src, dst):
        calls.append((src, dst))
        if len(calls) == 2:
            raise SystemExit("killed")  # the process dies between moving the old record aside and the new in
        real_rename(src, dst)

    monkeypatch.setattr(os, "rename", crash_on_second)
    with pytest.raises(SystemExit):
        store.commit("r-a-1", {"v": 2}, ROWS, {"status": "finished", "v": 2})
    monkeypatch.setattr(os, "rename", real_rename)
    assert not (tmp_path / "runs" / "r-a-1").exists()  # the record is only in .tmp now
    reopened = RunStore(tmp_path)
    assert reopened.summary("r-a-1")["v"] == 2  # the new, whole record took its place
    assert list((tmp_path / ".tmp").iterdir()) == []


def test_a_half_written_temporary_record_is_cleaned_up(tmp_path):
    RunStore(tmp_path).commit("r-a-1", {}, ROWS, {"status": "finished"})
    half = tmp_path / ".tmp" / "r-a-2-0123abcd"
    half.mkdir()
    (half / "config.json").write_text("{}")  # no summary: the writer died mid-record
    store = RunStore(tmp_path)
    assert list((tmp_path / ".tmp").iterdir()) == [] and not (tmp_path / "runs" / "r-a-2").exists()
    assert store.is_complete("r-a-1")


@pytest.mark.parametrize("damage", ["empty summary", "corrupt summary", "truncated metrics", "missing config"])
def test_an_unreadable_record_is_skipped_by_reports_and_redone_by_resume(tmp_path, idx_dir, damage):
    base = [f"task.data_dir={idx_dir}", *FAST, "logger=none"]
    assert optbench(tmp_path, *base, "seed=0").returncode == 0
    assert optbench(tmp_path, *base, "seed=1").returncode == 0
    store = tmp_path / "results/store"
    [victim] = [s for s in summaries(tmp_path) if s["seed"] == 1]
    run_dir = store / "runs" / victim["run_id"]
    if damage == "empty summary":
        (run_dir / "summary.json").write_text("")
    elif damage == "corrupt summary":
        (run_dir / "summary.json").write_text('{"status": "fin')
    elif damage == "truncated metrics":
        data = (run_dir / "metrics.parquet").read_bytes()
        (run_dir / "metrics.parquet").write_bytes(data[: len(data) // 2])
    else:
        (run_dir / "config.json").unlink()

    skipped: list[str] = []
    frame = load_summaries(store, skipped=skipped)
    assert skipped == [victim["run_id"]] and len(frame) == 1
    assert not load_metrics(store, list(frame["run_id"])).empty

    report = subprocess.run(
        [sys.executable, "-m", "optbench.report", f"store_dir={store}", f"out_root={tmp_path / 'out'}"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert report.returncode == 0, report.stderr[-2000:]
    assert "Traceback" not in report.stderr
    assert f"skipped 1 unreadable record: {victim['run_id']}" in report.stdout + report.stderr

    again = optbench(tmp_path, *base, "seed=1")  # resume treats it as missing and redoes it
    assert again.returncode == 0 and "skipping" not in again.stdout + again.stderr
    assert RunStore(store).is_complete(victim["run_id"])


def test_a_store_that_is_a_file_is_found_before_training(tmp_path, idx_dir):
    (tmp_path / "store").write_text("a file\n")
    out = optbench(tmp_path, f"task.data_dir={idx_dir}", *FAST, "logger=none", f"store_dir={tmp_path / 'store'}")
    assert out.returncode == 2 and "cannot be written" in out.stderr and "Traceback" not in out.stderr
    assert (tmp_path / "store").read_text() == "a file\n"


@pytest.fixture
def tmpfs(tmp_path):
    """A small tmpfs mounted for the test (needs root; skipped where mounting is not allowed)."""
    mounted = []

    def mount(size: str, read_only: bool = False) -> Path:
        point = tmp_path / f"mnt{len(mounted)}"
        point.mkdir()
        options = f"size={size}" + (",ro" if read_only else "")
        result = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(point)], capture_output=True)
        if result.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here: {result.stderr.decode().strip()}")
        mounted.append(point)
        return point

    yield mount
    for point in mounted:
        subprocess.run(["umount", "-l", str(point)], capture_output=True)


def test_a_read_only_store_is_found_before_training(tmp_path, idx_dir, tmpfs):
    store = tmpfs("1m", read_only=True)
    out = optbench(tmp_path, f"task.data_dir={idx_dir}", *FAST, "logger=none", f"store_dir={store}")
    assert out.returncode == 2 and "read-only" in out.stderr and "Traceback" not in out.stderr


def test_a_full_disk_is_found_before_training(tmp_path, idx_dir, tmpfs):
    store = tmpfs("256k")
    fd = os.open(store / "filler", os.O_WRONLY | os.O_CREAT)
    try:  # fill the disk
        while os.write(fd, b"\0" * 4096):
            pass
    except OSError:
        pass
    finally:
        os.close(fd)
    out = optbench(tmp_path, f"task.data_dir={idx_dir}", *FAST, "logger=none", f"store_dir={store}")
    assert out.returncode == 2 and "no space left" in out.stderr and "Traceback" not in out.stderr
    assert sorted(p.name for p in store.iterdir()) == [".locks", ".tmp", "filler", "runs"]
    assert list((store / ".tmp").iterdir()) == []


def test_a_disk_that_fills_during_the_commit_leaves_no_temporary_folder(tmp_path, idx_dir, monkeypatch):
    cfg = compose_config([f"task.data_dir={idx_dir}", *FAST], tmp_path)
    RunStore(tmp_path / "store").commit("keep-me-0", {}, ROWS, {"status": "finished"})

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(pd.DataFrame, "to_parquet", full)
    with pytest.raises(StoreError, match="no space left on the device") as info:
        runner.run(cfg)
    assert isinstance(info.value, OptbenchError)
    assert list((tmp_path / "store/.tmp").iterdir()) == []
    assert [p.name for p in (tmp_path / "store/runs").iterdir()] == ["keep-me-0"]  # nothing already written lost


# ---------------------------------------------------------------------------------------------------- W&B


@pytest.fixture
def silent_server():
    """A loopback TCP server that accepts connections and never answers (an unreachable W&B)."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    held = []

    def accept():
        while True:
            try:
                held.append(sock.accept()[0])
            except OSError:
                return

    threading.Thread(target=accept, daemon=True).start()
    yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    sock.close()
    for conn in held:
        conn.close()


def test_an_unreachable_wandb_server_falls_back_to_offline_once_per_process(tmp_path, idx_dir, silent_server):
    env = {"WANDB_MODE": "online", "WANDB_BASE_URL": silent_server, "WANDB_API_KEY": "a" * 40}
    out = optbench(tmp_path, "-m", "seed=0,1", f"task.data_dir={idx_dir}", *FAST, "logger.init_timeout=3", env=env)
    assert out.returncode == 0, out.stderr[-2000:]
    records = summaries(tmp_path)
    assert [s["status"] for s in records] == ["finished", "finished"]
    assert all(Path(s["wandb_dir"]).name.startswith("offline-run-") for s in records)  # syncable later
    text = out.stdout + out.stderr
    assert text.count("W&B could not start an online run") == 1 and "Traceback" not in text
