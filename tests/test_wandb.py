"""W&B as its users read a run: history keys and step metrics, summaries in the task's direction, the run-record
artifact and the store rebuilt from it (offline: written with WANDB_MODE=offline and read back from the offline run
files through W&B's own protobuf records), the mode W&B itself is set to, and the `wandb sync` line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from optbench.tracking.summary import sync_command
from optbench.tracking.wandb_records import _log_payloads

from .test_cli import FAST, optbench, store_snapshot


def offline_records(root: Path) -> list:
    from wandb.proto import wandb_internal_pb2 as pb

    out = []
    for run_file in sorted(root.rglob("offline-run-*/run-*.wandb")):
        for payload in _log_payloads(run_file):
            record = pb.Record()
            record.ParseFromString(payload)
            out.append(record)
    return out


def test_history_step_metrics_summaries_and_the_record_rebuilt_from_wandb(tmp_path, idx_dir):
    env = {"WANDB_DATA_DIR": str(tmp_path / "wandb_data")}  # W&B stages artifact files here until `wandb sync`
    out = optbench(
        tmp_path, "-m", "optimizer=sgd,adam", f"task.data_dir={idx_dir}", *FAST, "task.eval_every=4", env=env
    )
    assert out.returncode == 0, out.stderr[-2000:]
    records = offline_records(tmp_path / "outputs")
    history = [
        {item.key or "/".join(item.nested_key): json.loads(item.value_json) for item in r.history.item}
        for r in records
        if r.WhichOneof("record_type") == "history"
    ]
    train = [h for h in history if "train/loss" in h]
    assert train and all(
        {"train/step", "train/lr", "train/examples_per_s", "train/opt_step_time_s"} <= h.keys() for h in train[1:]
    )
    assert any("train/peak_rss_bytes" in h for h in train)
    assert any("eval/accuracy" in h and "eval/step" in h for h in history)
    assert not any(isinstance(v, str) for h in history for v in h.values())  # strings never enter history
    assert not any(k.startswith("test/") for h in history for k in h)  # the final test scores: summary only
    metrics = {r.metric.name: r.metric for r in records if r.WhichOneof("record_type") == "metric" and r.metric.name}
    assert metrics["train/loss"].step_metric == "train/step"
    assert metrics["eval/accuracy"].summary.max and not metrics["eval/accuracy"].summary.min  # higher is better
    assert metrics["train/loss"].summary.min
    artifacts = [r.artifact for r in records if r.WhichOneof("record_type") == "artifact"]
    assert sorted(a.type for a in artifacts) == ["run-record", "run-record"]
    assert "wandb sync outputs/multirun/" in out.stdout and "/*/wandb/offline-run-*" in out.stdout

    # the W&B runs alone rebuild the store, byte for byte, and the report renders the same tables from it
    rebuilt = tmp_path / "rebuilt"
    report = optbench(
        tmp_path,
        "source=wandb",
        "wandb.offline_dir=outputs",
        f"wandb.store_dir={rebuilt}",
        f"out_root={tmp_path / 'from_wandb'}",
        "name=cmp",
        module="optbench.report",
        env=env,
    )
    assert report.returncode == 0, report.stderr[-2000:]
    original = {k: v for k, v in store_snapshot(tmp_path / "results/store").items() if k.startswith("runs/")}
    assert {k: v for k, v in store_snapshot(rebuilt).items() if k.startswith("runs/")} == original
    local = optbench(tmp_path, f"out_root={tmp_path / 'from_store'}", "name=cmp", module="optbench.report")
    assert local.returncode == 0, local.stderr[-2000:]
    for name in ("summary.md", "summary.csv"):
        assert (tmp_path / "from_wandb/cmp" / name).read_text() == (tmp_path / "from_store/cmp" / name).read_text()


def resolved_mode(tmp_path: Path, **env: str) -> str:
    """logger.mode=null resolved in a fresh process whose W&B settings and credentials live under tmp_path."""
    full = {k: v for k, v in os.environ.items() if not k.startswith("WANDB_")}
    full.update(HOME=str(tmp_path), WANDB_CONFIG_DIR=str(tmp_path / "config"), NETRC=str(tmp_path / ".netrc"), **env)
    code = "from optbench.tracking.wandb_run import resolve_mode; print(resolve_mode(None)[0])"
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=full, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-2000:]
    return out.stdout.strip().splitlines()[-1]


def test_mode_follows_wandb_own_setting_and_stays_offline_for_a_user_never_logged_in(tmp_path):
    wandb_cli = [sys.executable, "-m", "wandb"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("WANDB_")}
    env.update(HOME=str(tmp_path), WANDB_CONFIG_DIR=str(tmp_path / "config"), NETRC=str(tmp_path / ".netrc"))
    assert resolved_mode(tmp_path) == "offline"  # never logged in
    assert resolved_mode(tmp_path, WANDB_API_KEY="x" * 40) == "online"  # logged in
    assert resolved_mode(tmp_path, WANDB_MODE="disabled") == "disabled"
    subprocess.run([*wandb_cli, "offline"], cwd=tmp_path, env=env, check=True, capture_output=True)
    assert resolved_mode(tmp_path, WANDB_API_KEY="x" * 40) == "offline"  # `wandb offline` wins over a login
    subprocess.run([*wandb_cli, "online"], cwd=tmp_path, env=env, check=True, capture_output=True)
    assert resolved_mode(tmp_path, WANDB_API_KEY="x" * 40) == "online"


def test_sync_command_names_the_folders_this_command_wrote(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    jobs = [tmp_path / "outputs/multirun/d/t" / str(i) / "wandb" / f"offline-run-2026-x{i}" for i in range(3)]
    for job in jobs:
        job.mkdir(parents=True)
    assert sync_command([]) is None
    assert sync_command([str(jobs[0])]) == "wandb sync outputs/multirun/d/t/0/wandb/offline-run-2026-x0"
    assert sync_command([str(j) for j in jobs]) == "wandb sync outputs/multirun/d/t/*/wandb/offline-run-*"
    # two of three: the glob would name one more, so the folders are listed
    assert sync_command([str(j) for j in jobs[:2]]).count("offline-run-") == 2
    assert sync_command(["outputs/runs/x/wandb/run-123-online"]) is None  # online runs need no sync


def test_report_from_a_missing_offline_folder_is_one_paragraph(tmp_path):
    out = optbench(tmp_path, "source=wandb", "wandb.offline_dir=nowhere", module="optbench.report")
    assert out.returncode == 2 and "Traceback" not in out.stderr, out.stderr
    (line,) = out.stderr.strip().splitlines()
    assert line.startswith("optbench-report: error: wandb.offline_dir: no such folder nowhere")
    assert not (tmp_path / "results").exists()


def test_wandb_sweep_yaml_from_hydra_overrides_runs_as_the_agent_would_call_it(tmp_path):
    import yaml

    from optbench.tracking.wandb_sweep import sweep_config

    out = optbench(
        tmp_path,
        "task=rosenbrock",
        "optimizer=adam,sgd",
        "seed=range(0,2)",
        "optimizer.lr=tag(log, interval(1e-4, 1e-1))",
        "--project",
        "optb",
        "-o",
        "sweep.yaml",
        module="optbench.tracking.wandb_sweep",
    )
    assert out.returncode == 0, out.stderr
    config = yaml.safe_load((tmp_path / "sweep.yaml").read_text())
    assert config["method"] == "random" and config["project"] == "optb"
    assert config["metric"] == {"name": "final_metric", "goal": "minimize"}  # Rosenbrock: lower is better
    assert config["command"] == ["${env}", "optbench", "${args_no_hyphens}"]
    params = config["parameters"]
    assert params["optimizer"] == {"values": ["adam", "sgd"]} and params["seed"] == {"values": [0, 1]}
    assert params["optimizer.lr"] == {"distribution": "log_uniform_values", "min": 1e-4, "max": 0.1}
    assert params["logger.project"] == {"value": "optb"} and params["task"] == {"value": "rosenbrock"}
    # one sample, as `wandb agent` passes it (${args_no_hyphens}: key=value per parameter)
    sample = {"task": "rosenbrock", "optimizer": "sgd", "seed": 1, "optimizer.lr": 0.003}
    run = optbench(tmp_path, *(f"{k}={v}" for k, v in sample.items()), "logger=none")
    assert run.returncode == 0, run.stderr[-2000:]
    (record,) = (tmp_path / "results/store/runs").glob("rosenbrock-sgd-*/config.json")
    stored = json.loads(record.read_text())
    assert (stored["optimizer"]["name"], stored["seed"], stored["optimizer"]["lr"]) == ("sgd", 1, 0.003)
    # goals follow the task, losses are minimised, and a grid takes only listed values
    assert sweep_config(["task=mnist_mlp", "optimizer=adam,adamw"])["metric"]["goal"] == "maximize"
    assert sweep_config(["task=mnist_mlp", "optimizer=adam,adamw"])["method"] == "grid"
    assert sweep_config(["task=mnist_mlp", "tune_metric=final_eval_loss"])["metric"] == {
        "name": "final_eval_loss",
        "goal": "minimize",
    }
    # a task that declares what tuning ranks by (its validation loss): the sweep ranks by it, lower first
    for task in ("transformer_mt", "lm_shakespeare"):
        assert sweep_config([f"task={task}"])["metric"] == {"name": "final_eval_loss", "goal": "minimize"}
    bad = optbench(tmp_path, "--method", "grid", "optimizer.lr=interval(0.1,1)", module="optbench.tracking.wandb_sweep")
    assert bad.returncode == 2 and "interval(...) needs random or bayes" in bad.stderr and "Traceback" not in bad.stderr


def test_a_diverged_run_logs_no_score_for_a_wandb_sweep_to_rank():
    from optbench.tracking.wandb_run import WandbRun

    class Stub:
        summary: dict = {}

        def finish(self, exit_code):
            self.exit_code = exit_code

    run = WandbRun.__new__(WandbRun)
    run.run = Stub()
    run.finish({"status": "diverged", "final_metric": None, "final_eval_loss": float("nan"), "steps": 12})
    assert run.run.summary == {"status": "diverged", "steps": 12} and run.run.exit_code == 1
