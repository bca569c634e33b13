"""2-D test functions: values and gradients at known points, recorded paths, a gallery from a small sweep."""

from __future__ import annotations

import json
import math

import pandas as pd
import pytest
import torch

from optbench.tasks.functions2d import beale, rastrigin, rosenbrock

from .test_cli import optbench, summaries


def grad(f, point):
    p = torch.tensor(point, dtype=torch.float64, requires_grad=True)
    value = f(p)
    value.backward()
    return value.item(), p.grad.tolist()


def test_values_and_gradients_at_known_points():
    assert grad(rosenbrock, [1.0, 1.0]) == (0.0, [0.0, 0.0])
    # f(-2, 2) = 9 + 100 * 4 = 409; df/dx = -2(1 - x) - 400 x (y - x^2) = -6 - 1600; df/dy = 200 (y - x^2) = -400
    assert grad(rosenbrock, [-2.0, 2.0]) == (409.0, [-1606.0, -400.0])
    assert grad(rastrigin, [0.0, 0.0]) == (0.0, [0.0, 0.0])
    value, g = grad(rastrigin, [1.0, 0.5])
    assert value == pytest.approx(20 + (1 - 10) + (0.25 + 10))  # cos(2 pi) = 1, cos(pi) = -1
    assert g == pytest.approx([2.0, 1.0])  # 2x + 20 pi sin(2 pi x) vanishes in the sine at integers / halves
    assert grad(rastrigin, [0.25, 0.0])[1][0] == pytest.approx(0.5 + 20 * math.pi)
    assert grad(beale, [3.0, 0.5]) == (0.0, [0.0, 0.0])


def test_path_has_configured_length_and_sgd_descends(tmp_path):
    out = optbench(
        tmp_path,
        "task=rosenbrock",
        "optimizer=sgd",
        "optimizer.lr=1e-4",
        "schedule=constant",
        "task.max_steps=40",
        "logger=none",
    )
    assert out.returncode == 0, out.stderr
    [s] = summaries(tmp_path)
    metrics = pd.read_parquet(f"{s['record_dir']}/metrics.parquet")
    train = metrics[metrics["split"] == "train"].sort_values("step")
    assert len(train) == 40 and list(train["step"]) == list(range(1, 41))
    assert train[["x", "y"]].notna().all().all()
    losses = train["loss"].tolist()
    assert losses[0] == pytest.approx(409.0)
    assert all(b < a for a, b in zip(losses[:20], losses[1:21], strict=True))  # monotone over the first steps
    # the first step is exactly x - lr * grad
    assert train.iloc[0][["x", "y"]].tolist() == pytest.approx([-2 + 1e-4 * 1606, 2 + 1e-4 * 400], rel=1e-5)
    assert s["final_metric"] < 409.0


def test_trajectories_experiment_and_gallery(tmp_path):
    out = optbench(
        tmp_path,
        "-m",
        "experiment=trajectories",
        "task=rastrigin",
        "task.max_steps=30",
        "hydra.sweeper.num_lrs=3",
        "hydra.sweeper.params.optimizer='sgd,adam,adafactor'",
    )
    assert out.returncode == 0, out.stderr[-2000:]
    store = tmp_path / "results/trajectories_rastrigin/store"  # the gallery's own records, beside it
    records = [json.loads(p.read_text()) for p in sorted(store.glob("runs/*/summary.json"))]
    assert len(records) == 9 and {r["sweep"] for r in records} == {"trajectories-rastrigin"}
    # another function's run in the same store must not leak its parameters into this gallery
    other = optbench(tmp_path, "task=rosenbrock", "task.max_steps=5", "logger=none", f"store_dir={store}")
    assert other.returncode == 0, other.stderr
    args = ["report=trajectories", "filters.task=rastrigin", f"store_dir={store}"]
    report = optbench(tmp_path, *args, module="optbench.report")
    assert report.returncode == 0, report.stderr
    for stem in ("gallery", "overlay"):
        assert (tmp_path / f"results/trajectories_rastrigin/{stem}.png").stat().st_size > 20_000
    tuned = json.loads(next((tmp_path / "outputs/multirun").rglob("tune_results.json")).read_text())
    for result in tuned:  # minimised: the best lr is the grid point with the lowest final value
        assert result["label"].startswith("optimizer=")
        name = dict(o.split("=", 1) for o in result["group"])["optimizer"]
        mine = {r["lr"]: r["final_metric"] for r in records if r["optimizer"] == name and r["status"] == "finished"}
        assert result["best_lr"] == min(mine, key=mine.get)
