"""Sweeps: parallel and SLURM-style launchers, resume after SIGKILL, the tuning protocol."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from omegaconf import OmegaConf

from optbench.cli import launcher_threads, missing_plugin
from optbench.ranking import best_index
from optbench.tune import lr_grid, past_edge

from .test_cli import FAST, optbench, store_snapshot, summaries


def test_joblib_launcher_two_jobs_one_record_per_config(tmp_path, idx_dir):
    out = optbench(
        tmp_path,
        "-m",
        "hydra/launcher=parallel",
        "hydra.launcher.n_jobs=2",
        "optimizer=sgd,adam",
        "seed=0,1",
        f"task.data_dir={idx_dir}",
        "logger=none",
        *FAST,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    records = summaries(tmp_path)
    assert sorted((s["optimizer"], s["seed"]) for s in records) == [("adam", 0), ("adam", 1), ("sgd", 0), ("sgd", 1)]
    assert all(s["status"] == "finished" for s in records)
    assert {s["threads"] for s in records} == {max(1, (os.cpu_count() or 1) // 2)}
    assert len({s["pid"] for s in records}) >= 2  # ran in worker processes
    assert "4 runs in sweep" in out.stdout


def test_submitit_local_launcher(tmp_path, idx_dir):
    out = optbench(
        tmp_path,
        "-m",
        "hydra/launcher=local_submitit",
        "optimizer=sgd,adax",
        f"task.data_dir={idx_dir}",
        "logger=none",
        *FAST,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    records = summaries(tmp_path)
    assert sorted(s["optimizer"] for s in records) == ["adax", "sgd"]
    assert all(s["status"] == "finished" and s["threads"] == 1 for s in records)


def test_sweep_killed_with_sigkill_resumes_without_duplicates(tmp_path, idx_dir):
    args = ["-m", "optimizer=sgd,momentum,adam,adax", f"task.data_dir={idx_dir}", "logger=none", *FAST, "task.epochs=3"]
    env = {**os.environ, "WANDB_MODE": "disabled"}
    env.pop("OPTBENCH_STORE", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "optbench", *args],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    runs = tmp_path / "results/store/runs"
    deadline = time.time() + 240
    while time.time() < deadline and len(list(runs.glob("*/summary.json"))) < 2:
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    early = store_snapshot(runs)
    n_early = len([k for k in early if k.endswith("summary.json")])
    assert 2 <= n_early < 4, "the sweep should be killed part-way"

    out = optbench(tmp_path, *args)
    assert out.returncode == 0, out.stderr[-2000:]
    records = summaries(tmp_path)
    assert sorted(s["optimizer"] for s in records) == ["adam", "adax", "momentum", "sgd"]
    assert all(s["status"] == "finished" for s in records)
    after = store_snapshot(runs)
    assert {k: after[k] for k in early} == early  # the records finished before the kill are untouched
    assert out.stdout.count("skipping") + out.stderr.count("skipping") == n_early


def test_tuning_protocol_grid_then_seeds(tmp_path, idx_dir):
    out = optbench(
        tmp_path,
        "-m",
        "experiment=tune",
        "optimizer=sgd",
        "hydra.sweeper.num_lrs=3",
        "hydra.sweeper.lr_min=1e-3",
        "hydra.sweeper.lr_max=1e5",
        "hydra.sweeper.seeds=[0,1]",
        f"task.data_dir={idx_dir}",
        "logger=none",
        *FAST,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    records = summaries(tmp_path)
    grid = {s["lr"]: s for s in records if s["seed"] == 0}
    assert sorted(grid) == [1e-3, 10.0, 1e5]
    assert grid[1e5]["status"] == "diverged"  # counted as the worst
    [result] = json.loads(next((tmp_path / "outputs/multirun").rglob("tune_results.json")).read_text())
    scores = {lr: s["final_metric"] for lr, s in grid.items()}
    assert result["best_lr"] == max((v, k) for k, v in scores.items() if v is not None)[1]
    seeds_at_best = sorted(s["seed"] for s in records if s["lr"] == result["best_lr"])
    assert seeds_at_best == [0, 1]  # seed 0 is the grid run itself, not a duplicate
    assert {s["sweep"] for s in records} == {"tune-mnist_mlp-sgd"}
    assert "Best learning rates" in out.stdout


def test_lr_grid_and_best_index():
    assert lr_grid(1e-3, 3, 0.01, 100.0) == [1e-5, 1e-3, 1e-1]
    assert lr_grid(1.0, 2, 1, 1, lr_min=1e-4, lr_max=1e-2) == [1e-4, 1e-2]
    assert best_index([0.5, None, 0.9, float("nan")], higher=True) == 2
    assert best_index([0.5, None, 0.1], higher=False) == 2
    assert best_index([None, 9.0, 0.44], higher=False) == 2
    with pytest.raises(ValueError, match="bad lr grid"):
        lr_grid(1e-3, 3, 10, 0.1)


def test_past_edge_steps_beyond_the_end_holding_the_best():
    grid = [1e-4, 1e-3, 1e-2]
    assert past_edge(grid, [0.9, 0.5, 0.1], higher=True) == 1e-5  # best at the low end
    assert past_edge(grid, [0.9, 0.5, 0.1], higher=False) == 0.1  # the same scores, lower is better
    assert past_edge(grid, [0.1, 0.9, 0.5], higher=True) is None  # inside
    assert past_edge(grid, [0.1, 0.5, None], higher=True) is None  # beside a diverged end: inside
    assert past_edge(grid, [0.5, None, None], higher=True) == 1e-5
    assert past_edge(grid, [None, None, None], higher=True) is None  # nothing finished: no direction
    assert past_edge([1e-3], [0.5], higher=True) is None  # one point has no spacing
    assert past_edge([0.000333333, 0.001, 0.003], [0.1, 0.5, 0.9], higher=False) == 0.000111111


def test_tuning_grid_grows_past_the_edge_holding_the_best(tmp_path):
    # SGD on Rosenbrock (lower is better) from a grid of tiny lrs: the largest is best, so the grid grows upward,
    # one point per round at its own spacing, until a point diverges and the best is inside
    out = optbench(
        tmp_path,
        "-m",
        "experiment=tune",
        "task=rosenbrock",
        "optimizer=sgd",
        "hydra.sweeper.num_lrs=2",
        "hydra.sweeper.lr_min=1e-6",
        "hydra.sweeper.lr_max=1e-5",
        "hydra.sweeper.extend_edges=4",
        "hydra.sweeper.seeds=[0]",
        "logger=none",
    )
    assert out.returncode == 0, out.stderr[-2000:]
    records = {s["lr"]: s for s in summaries(tmp_path)}
    assert sorted(records) == [1e-6, 1e-5, 1e-4, 1e-3, 1e-2]  # three rounds of the four allowed
    assert records[1e-2]["status"] == "diverged"
    [result] = json.loads(next((tmp_path / "outputs/multirun").rglob("tune_results.json")).read_text())
    assert result["grid"] == sorted(records)
    finished = {lr: s["final_metric"] for lr, s in records.items() if s["status"] == "finished"}
    assert result["best_lr"] == min(finished, key=finished.get) == 1e-3
    assert "adding lr=0.0001" in out.stdout + out.stderr


def test_missing_plugin_names_the_extra(monkeypatch):
    monkeypatch.setattr("importlib.util.find_spec", lambda name: None)
    assert "pip install 'optbench[joblib]'" in missing_plugin(["-m", "hydra/launcher=parallel"])
    assert "pip install 'optbench[slurm]'" in missing_plugin(["hydra/launcher=slurm"])
    assert "pip install 'optbench[optuna]'" in missing_plugin(["-m", "hparams_search=optuna"])
    assert missing_plugin(["optimizer=adam"]) is None


def test_threads_per_job_never_oversubscribe():
    from omegaconf import OmegaConf

    cpus = os.cpu_count() or 1
    assert launcher_threads(OmegaConf.create({"n_jobs": 2})) == max(1, cpus // 2)
    assert launcher_threads(OmegaConf.create({"n_jobs": -1})) == 1
    assert launcher_threads(OmegaConf.create({"cpus_per_task": 3})) == 3
    assert launcher_threads(OmegaConf.create({})) is None


def test_optuna_sweep_on_a_2d_task_minimises_the_tasks_metric_and_keeps_every_trial(tmp_path):
    pytest.importorskip("hydra_plugins.hydra_optuna_sweeper", reason="pip install 'optbench[optuna]'")
    args = ["-m", "hparams_search=optuna", "task=rosenbrock", "optimizer=adam", "task.max_steps=60", "logger=none"]
    out = optbench(tmp_path, *args, "hydra.sweeper.n_trials=5", "hydra.sweeper.sampler.n_startup_trials=3")
    assert out.returncode == 0, out.stderr[-3000:]
    records = [s for s in summaries(tmp_path) if s["sweep"] == "optuna-rosenbrock-adam"]
    assert len(records) == 5 and len({s["lr"] for s in records}) == 5
    assert all(1e-3 - 1e-12 <= s["lr"] <= 1.0 + 1e-12 for s in records)  # the task's lr (0.1) x 0.01 ... x 10
    (result,) = (tmp_path / "outputs/multirun").rglob("optimization_results.yaml")
    best = OmegaConf.load(result)
    assert best.best_value == pytest.approx(min(s["final_metric"] for s in records))  # minimised: lower is better
    again = optbench(tmp_path, *args, "hydra.sweeper.n_trials=5", "hydra.sweeper.sampler.n_startup_trials=3")
    assert again.returncode == 0 and len(summaries(tmp_path)) == 5  # the same seeded study resumes from the store


def test_optuna_direction_follows_the_task():
    from optbench.resolvers import direction, log_interval

    assert direction(OmegaConf.create({"_target_": "optbench.tasks.mnist_mlp.MnistMLP"})) == "maximize"
    assert direction(OmegaConf.create({"_target_": "optbench.tasks.functions2d.Function2D"})) == "minimize"
    assert direction(OmegaConf.create({"higher_is_better": False})) == "minimize"
    # a tune_metric loss points down even on a task whose headline (BLEU) points up
    assert direction(OmegaConf.create({"higher_is_better": True}), "final_eval_loss") == "minimize"
    assert direction(OmegaConf.create({"higher_is_better": True}), "final_metric") == "maximize"
    assert log_interval(2e-3, 0.01, 10) == "tag(log, interval(2e-05, 0.02))"


def test_coordinate_descent_tunes_each_coordinate_after_the_lr_and_reruns_the_picks(tmp_path):
    # Adam and SGD on Rosenbrock: lr grid, then betas (Adam only: SGD's config has none), then weight decay,
    # each with the coordinates before it at their picks; the seeds rerun the picked combination
    out = optbench(
        tmp_path,
        "-m",
        "experiment=tune",
        "task=rosenbrock",
        "optimizer=adam,sgd",
        "task.max_steps=40",
        "hydra.sweeper.num_lrs=2",
        "hydra.sweeper.seeds=[0,1]",
        "hydra.sweeper.coordinates={optimizer.betas: [[0.9,0.999],[0.5,0.9]], optimizer.weight_decay: [0.0,0.5]}",
        "logger=none",
    )
    assert out.returncode == 0, out.stderr[-3000:]
    results = {
        r["label"]: r for r in json.loads(next((tmp_path / "outputs/multirun").rglob("tune_results.json")).read_text())
    }
    adam, sgd = results["optimizer=adam"], results["optimizer=sgd"]
    assert [row["key"] for row in adam["coordinates"]] == ["optimizer.betas", "optimizer.weight_decay"]
    assert sgd["coordinates"][0]["picked"].startswith("n/a")  # SGD has no betas
    for res in (adam, sgd):
        for row in res["coordinates"]:
            if row["values"]:
                assert row["picked"] == row["values"][int(np.argmin(row["scores"]))]  # lower is better
    runs = summaries(tmp_path)
    final = [s for s in runs if s["optimizer"] == "adam" and s["seed"] == 1]
    assert len(final) == 1 and final[0]["lr"] == adam["best_lr"]
    (config,) = [json.loads((Path(s["record_dir"]) / "config.json").read_text()) for s in final]
    assert config["optimizer"]["betas"] == adam["best"]["optimizer.betas"]
    assert config["optimizer"]["weight_decay"] == adam["best"]["optimizer.weight_decay"]
    table = next((tmp_path / "outputs/multirun").rglob("tuning_table.md")).read_text()
    assert "## optimizer=adam (minimize)" in table and "| optimizer.weight_decay |" in table
    # the budget: 2 lrs + 2 betas + 2 weight decays for Adam, 2 + 2 for SGD (a default already run is reused)
    assert len({s["run_id"] for s in runs if s["seed"] == 0 and s["optimizer"] == "adam"}) <= 6


def test_tuning_on_a_score_the_runs_do_not_record_is_refused_before_any_training(tmp_path):
    """Ranking by a missing key would rank NaNs and rerun the grid's first lr on every seed."""
    from .test_cli import optbench

    out = optbench(tmp_path, "-m", "experiment=tune", "task=rosenbrock", "tune_metric=no_such_key")
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert "tune_metric='no_such_key' is not a score that runs of task rosenbrock record" in out.stderr
    assert "final_final_value" in out.stderr  # the scores it does record are named
    assert not list((tmp_path / "results").rglob("summary.json"))


def test_a_nan_score_never_wins_a_ranking():
    import math

    import pandas as pd

    from optbench.ranking import best_index
    from optbench.report.stats import versus_best
    from optbench.report.tables import best_lr
    from optbench.tune import past_edge

    nan = math.nan
    assert best_index([nan, 0.5, nan], higher=True) == 1 and best_index([nan, 0.5, 0.7], higher=False) == 1
    assert past_edge([1e-3, 1e-2, 1e-1], [nan, 0.2, 0.1], higher=False) == 1.0  # grows past the finite best
    runs = pd.DataFrame(
        {"lr": [1e-3, 1e-2], "seed": [0, 0], "status": ["finished", "finished"], "final_metric": [nan, 0.3]}
    )
    assert best_lr(runs, higher=False) == 1e-2 and best_lr(runs, higher=True) == 1e-2
    assert versus_best({"a": {0: nan, 1: nan}, "b": {0: 0.5, 1: 0.6}}, higher=False)["b"] == "best"


def test_a_sweep_whose_runs_failed_says_which_and_exits_non_zero(tmp_path):
    from .conftest import REPO
    from .test_cli import optbench

    out = optbench(
        tmp_path,
        "-m",
        "task=rosenbrock",
        "task._target_=tests.det_task.FailingFunction",
        "+task.fail=false,true",
        "task.max_steps=5",
        env={"PYTHONPATH": str(REPO)},
    )
    assert out.returncode == 1, out.stderr[-2000:]
    assert "optbench: 1 of 2 runs failed" in out.stderr and "RuntimeError: injected failure" in out.stderr
    assert "Traceback" not in out.stderr
    assert "\n  rosenbrock-" in out.stderr.split("runs failed")[1]  # the failed run, by its run id
    ok = optbench(
        tmp_path,
        "-m",
        "task=rosenbrock",
        "task._target_=tests.det_task.FailingFunction",
        "+task.fail=false",
        "optimizer.lr=1e6",  # diverges: a result, not a failure
        "task.max_steps=5",
        env={"PYTHONPATH": str(REPO)},
    )
    assert ok.returncode == 0 and "| diverged" in ok.stdout, ok.stderr[-2000:]


def test_a_diverged_optuna_trial_never_wins_the_study(tmp_path):
    """A run that diverges returns NaN: Optuna records a failed trial, and the best is a finished one."""
    pytest.importorskip("hydra_plugins.hydra_optuna_sweeper", reason="pip install 'optbench[optuna]'")
    out = optbench(
        tmp_path,
        "-m",
        "hparams_search=optuna",
        "task=rosenbrock",
        "optimizer=adam",
        "task.max_steps=30",
        "logger=none",
        "hydra.sweeper.n_trials=4",
        "hydra.sweeper.params={optimizer.lr: 'choice(1000.0, 0.01)'}",
    )
    assert out.returncode == 0, out.stderr[-3000:]  # a diverged run is a result, not a failure
    records = summaries(tmp_path)
    assert {s["status"] for s in records} == {"diverged", "finished"}, [(s["lr"], s["status"]) for s in records]
    (result,) = (tmp_path / "outputs/multirun").rglob("optimization_results.yaml")
    best = OmegaConf.load(result)
    assert best.best_params["optimizer.lr"] == 0.01 and best.best_value == best.best_value  # finite, not NaN
