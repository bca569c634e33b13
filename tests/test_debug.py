"""The debug group (debug=fast | anomaly | profile) and the optional groups picked without a `+`."""

from __future__ import annotations

import json

import pandas as pd
import torch

from optbench import runner
from optbench.cli import drop_plus_on_optional_groups, optional_groups

from .test_cli import optbench


def only_record(store) -> tuple[dict, pd.DataFrame]:
    (run,) = (store / "runs").iterdir()
    return json.loads((run / "summary.json").read_text()), pd.read_parquet(run / "metrics.parquet")


def test_debug_fast_trains_five_steps_evaluates_once_and_keeps_the_record_in_the_run_folder(tmp_path):
    out = optbench(tmp_path, "debug=fast", "task=rosenbrock", "hydra.run.dir=run")
    assert out.returncode == 0, out.stderr
    summary, metrics = only_record(tmp_path / "run" / "store")
    assert summary["status"] == "finished" and summary["steps"] == 5
    assert list(metrics.split.unique()) == ["train", "test"] and (metrics.split == "test").sum() == 1
    assert not (tmp_path / "results" / "store").exists()  # the results store is untouched
    assert not list(tmp_path.rglob("wandb"))  # no W&B run


def test_debug_profile_writes_a_chrome_trace_of_the_active_steps(tmp_path):
    out = optbench(tmp_path, "debug=profile", "task=rosenbrock", "optimizer=adamw", "hydra.run.dir=run")
    assert out.returncode == 0, out.stderr
    (trace,) = (tmp_path / "run" / "profile").glob("optbench*.pt.trace.json")
    events = json.loads(trace.read_text())["traceEvents"]
    names = {e.get("name") for e in events}
    steps = sorted(n for n in names if n and n.startswith("ProfilerStep#"))
    assert steps == ["ProfilerStep#2", "ProfilerStep#3", "ProfilerStep#4"]  # wait 1, warmup 1, active 3
    assert any(n and n.startswith("Optimizer.step#AdamW") for n in names)


def test_debug_anomaly_turns_on_anomaly_detection_and_determinism_for_the_run_only(monkeypatch, make_config):
    seen = []
    real = runner.forward_backward

    def forward_backward(*args, **kwargs):
        seen.append((torch.is_anomaly_enabled(), torch.are_deterministic_algorithms_enabled()))
        return real(*args, **kwargs)

    monkeypatch.setattr(runner, "forward_backward", forward_backward)
    summary = runner.run(make_config("debug=anomaly", "task=rosenbrock", "task.max_steps=8"))
    assert summary["status"] == "finished" and seen and set(seen) == {(True, True)}
    assert not torch.is_anomaly_enabled() and not torch.are_deterministic_algorithms_enabled()  # restored


def test_debug_anomaly_names_the_backward_that_made_a_nan(monkeypatch, make_config):
    def nan_in_backward(task, model, micro, precision, device, create_graph):
        loss = sum((p * 0).sqrt().sum() for p in model.parameters())  # forward 0; backward inf * 0 = nan
        loss.backward()
        return loss.detach()

    monkeypatch.setattr(runner, "forward_backward", nan_in_backward)
    plain = runner.run(make_config("task=rosenbrock", "task.max_steps=3", "memory_probe_steps=[]"))
    assert plain["status"] != "failed"  # without anomaly detection the NaN gradient goes unnoticed
    caught = runner.run(make_config("debug=anomaly", "task=rosenbrock", "task.max_steps=3", "memory_probe_steps=[]"))
    assert caught["status"] == "failed" and "MulBackward0' returned nan values" in caught["reason"], caught


def test_optional_groups_take_no_plus_and_the_old_spelling_still_works(tmp_path):
    assert {"experiment", "wrapper", "debug", "hparams_search", "shootout_arm"} <= optional_groups()
    assert drop_plus_on_optional_groups(["+experiment=tune", "+optimizer.bogus=1"]) == [
        "experiment=tune",
        "+optimizer.bogus=1",
    ]
    for spelling in ("experiment=tune", "+experiment=tune"):
        out = optbench(tmp_path, spelling, "task=rosenbrock", "optimizer=sgd", "--cfg", "hydra")
        assert out.returncode == 0, out.stderr
        assert "TuneSweeper" in out.stdout
