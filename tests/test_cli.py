"""The `optbench` command end to end, in a subprocess, on small IDX data made here."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import torch

from optbench.runner import mean_loss

FAST = ["task.hidden=[32]", "task.batch_size=32", "task.log_every=5"]


def optbench_env(env: dict | None = None) -> dict:
    """The environment of an `optbench` subprocess: W&B offline and quiet, the store under its working folder."""
    full_env = {**os.environ, "WANDB_MODE": "offline", "WANDB_SILENT": "true", **(env or {})}
    full_env.pop("OPTBENCH_STORE", None)
    return full_env


def optbench(cwd: Path, *args: str, env: dict | None = None, module: str = "optbench") -> subprocess.CompletedProcess:
    """Run `python -m <module> <args>` in ``cwd``; the store lands in cwd/results/store."""
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=cwd,
        env=optbench_env(env),
        capture_output=True,
        text=True,
        timeout=600,
    )


def store_snapshot(store: Path) -> dict[str, bytes]:
    return {str(p.relative_to(store)): p.read_bytes() for p in sorted(store.rglob("*")) if p.is_file()}


def summaries(cwd: Path) -> list[dict]:
    """The stored summaries under cwd's store, each with its record folder (as RunStore.summary gives it)."""
    paths = sorted((cwd / "results/store/runs").glob("*/summary.json"))
    return [{**json.loads(p.read_text()), "record_dir": str(p.parent)} for p in paths]


def test_single_run_records_everything_and_rerun_skips(tmp_path, idx_dir):
    args = ["optimizer=adafactor", "optimizer.lr=3e-3", "seed=1", f"task.data_dir={idx_dir}", *FAST]
    out = optbench(tmp_path, *args)
    assert out.returncode == 0, out.stderr
    [s] = summaries(tmp_path)
    assert s["status"] == "finished" and s["optimizer"] == "adafactor" and s["seed"] == 1 and s["lr"] == 3e-3
    assert s["steps"] == 8 and s["epochs"] == 1
    assert s["examples_per_s"] > 0 and s["fwd_bwd_time_s"] > 0 and s["opt_step_time_s"] > 0
    assert s["state_bytes"] == s["state_bytes_analytic"] > 0
    assert s["param_bytes"] > 0 and s["grad_bytes"] == s["param_bytes"] and s["peak_rss_bytes"] > 1e6
    assert 0 <= s["final_metric"] <= 1 and s["final_accuracy"] == s["final_metric"]
    assert s["torch_version"] and s["device"] == "cpu" and s["threads"] >= 1 and "git_commit" in s
    assert (tmp_path / s["wandb_dir"]).is_dir() and Path(s["wandb_dir"]).name.startswith("offline-run-")
    metrics = pd.read_parquet(Path(s["record_dir"]) / "metrics.parquet")
    assert set(metrics["split"]) == {"train", "test"} and metrics["step"].max() == 8
    assert "adafactor" in out.stdout and "finished" in out.stdout  # the printed summary table

    before = store_snapshot(tmp_path / "results/store")
    again = optbench(tmp_path, *args)
    assert again.returncode == 0 and "skipping" in again.stdout + again.stderr
    assert store_snapshot(tmp_path / "results/store") == before

    forced = optbench(tmp_path, *args, "force=true", "logger=none")
    assert forced.returncode == 0
    [s2] = summaries(tmp_path)
    assert s2["run_id"] == s["run_id"] and s2["start_time"] >= s["start_time"] and s2["pid"] != s["pid"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["optimizer=adamm"], r"Could not find 'optimizer/adamm'.*adafactor"),
        (["task=mnist"], r"Could not find 'task/mnist'.*mnist_mlp"),
        (["optimizer.lr=0"], r"optimizer.lr=0.* must be a finite number > 0"),
        (["optimizer.lr=-1e-3", "optimizer=adax"], r"optimizer.lr=-0.001 is not valid for optimizer 'adax'"),
        (["optimizer.betas=[0.9,1.0]"], r"optimizer.betas=\[0.9, 1.0\].*each in \[0, 1\)"),
        (
            ["task.data_dir=null", "data_root=/nonexistent/data"],
            r"/nonexistent/data/mnist does not exist.*OPTBENCH_DATA",
        ),
        (["TRUNCATE"], r"train-images-idx3-ubyte.gz"),
    ],
)
def test_bad_input_stops_before_training_and_leaves_the_store_alone(tmp_path, idx_dir, args, message):
    ok = optbench(tmp_path, f"task.data_dir={idx_dir}", "logger=none", *FAST)
    assert ok.returncode == 0, ok.stderr
    before = store_snapshot(tmp_path / "results/store")
    if args == ["TRUNCATE"]:
        path = idx_dir / "train-images-idx3-ubyte.gz"
        path.write_bytes(path.read_bytes()[:-100])
        args = ["seed=5"]
    bad = optbench(tmp_path, f"task.data_dir={idx_dir}", "logger=none", *FAST, *args)
    assert bad.returncode != 0
    assert pytest.importorskip("re").search(message, bad.stderr.replace("\n", " ")), bad.stderr
    assert "Traceback" not in bad.stderr
    assert store_snapshot(tmp_path / "results/store") == before


def test_diverged_run_is_recorded_and_the_sweep_goes_on(tmp_path, idx_dir):
    out = optbench(
        tmp_path,
        "-m",
        "optimizer=sgd",
        "optimizer.lr=1e12,0.01",
        f"task.data_dir={idx_dir}",
        "logger=none",
        *FAST,
    )
    assert out.returncode == 0, out.stderr
    by_lr = {s["lr"]: s for s in summaries(tmp_path)}
    assert by_lr[1e12]["status"] == "diverged" and "loss became" in by_lr[1e12]["reason"]
    assert by_lr[1e12]["diverged_step"] == by_lr[1e12]["steps"] + 1 <= 3
    assert by_lr[0.01]["status"] == "finished"
    assert "2 runs in sweep" in out.stdout and "diverged" in out.stdout


def test_mean_loss_of_a_record_window():
    assert mean_loss([torch.tensor(2.0), torch.tensor(1.0)]) == pytest.approx(1.5)


def test_wandb_failure_leaves_a_complete_local_record(tmp_path, idx_dir):
    out = optbench(tmp_path, f"task.data_dir={idx_dir}", "logger.mode=not-a-mode", *FAST)
    assert out.returncode == 0, out.stderr
    assert "W&B failed to start" in out.stdout + out.stderr
    [s] = summaries(tmp_path)
    assert s["status"] == "finished" and s["wandb_dir"] is None and s["examples_per_s"] > 0


def test_real_mnist_run(tmp_path, data_root):
    out = optbench(tmp_path, f"data_root={data_root}", "task.max_steps=30", "logger=none")
    assert out.returncode == 0, out.stderr
    [s] = summaries(tmp_path)
    assert s["status"] == "finished" and s["steps"] == 30 and s["final_metric"] > 0.8
    assert s["n_params"] == 784 * 1000 + 1000 + 1000 * 500 + 500 + 500 * 100 + 100 + 100 * 10 + 10


def test_version_and_plugins_listed_once(tmp_path):
    import optbench as package

    for module in ("optbench", "optbench.report"):
        out = optbench(tmp_path, "--version", module=module)
        assert out.returncode == 0 and out.stdout.strip().endswith(f" {package.__version__}"), out.stderr
    info = optbench(tmp_path, "--info", "plugins")
    assert info.returncode == 0, info.stderr
    listed = [line.strip() for line in info.stdout.split("Profiling information")[0].splitlines()]
    plugins = [name for name in listed if name and name.isidentifier()]
    assert "TuneSweeper" in plugins and "BasicLauncher" in plugins
    assert len(plugins) == len(set(plugins)), plugins  # each plugin once
