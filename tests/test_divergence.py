"""Divergence: a NaN, inf or exploding loss stops the run at its exact step, and what it measured is kept."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import pytest
import torch

from optbench.divergence import CUDA_CHECK_EVERY, Diverged, DivergenceGuard

from .test_cli import FAST, optbench, summaries


def feed(guard: DivergenceGuard, values: list[float]) -> None:
    for step, v in enumerate(values, start=1):
        guard.observe(torch.tensor(v), step)
    guard.check()


def test_cpu_guard_stops_at_the_first_non_finite_step():
    guard = DivergenceGuard(torch.device("cpu"))
    assert guard.check_every == 1
    with pytest.raises(Diverged, match="loss became nan at step 3") as info:
        feed(guard, [2.0, 1.0, math.nan, math.inf])
    assert info.value.step == 3


def test_cuda_guard_reads_losses_in_batches_and_still_names_the_exact_step():
    guard = DivergenceGuard(torch.device("cuda"))  # only the check interval depends on the device
    assert guard.check_every == CUDA_CHECK_EVERY > 1
    for step in range(1, CUDA_CHECK_EVERY):  # nothing is read before the interval is full
        guard.observe(torch.tensor(math.inf if step == 4 else 1.0), step)
    with pytest.raises(Diverged) as info:
        guard.observe(torch.tensor(1.0), CUDA_CHECK_EVERY)
    assert info.value.step == 4


def test_an_exploding_loss_is_divergence_and_the_factor_is_overridable():
    with pytest.raises(Diverged, match="at step 3 .*max_loss_factor=100") as info:
        feed(DivergenceGuard(torch.device("cpu")), [2.0, 150.0, 250.0])  # limit 100 x 2.0
    assert info.value.step == 3
    feed(DivergenceGuard(torch.device("cpu"), max_loss_factor=None), [2.0, 1e30])  # only NaN/inf count
    feed(DivergenceGuard(torch.device("cpu"), max_loss_factor=1e3), [2.0, 250.0])


def test_a_diverged_run_stops_within_a_step_and_keeps_its_metrics(tmp_path, idx_dir):
    """`optimizer=sgd optimizer.lr=1e6 task.max_steps=400 task.log_every=400` used to run all 400 steps."""
    out = optbench(
        tmp_path,
        "optimizer=sgd",
        "optimizer.lr=1e6",
        "task.max_steps=400",
        "task.log_every=400",
        "task.epochs=100",
        f"task.data_dir={idx_dir}",
        "logger=none",
        "task.hidden=[32]",
        "task.batch_size=32",
    )
    assert out.returncode == 0, out.stderr[-2000:]
    [s] = summaries(tmp_path)
    assert s["status"] == "diverged" and s["diverged_step"] <= 3 and s["steps"] == s["diverged_step"] - 1
    metrics = pd.read_parquet(Path(s["record_dir"]) / "metrics.parquet")
    train = metrics[metrics["split"] == "train"]
    assert train["step"].max() == s["diverged_step"]
    bad = train[train["step"] == s["diverged_step"]]["loss"].item()
    assert not math.isfinite(bad) or bad > 100 * 2.3


def test_an_exploding_adam_run_is_recorded_diverged(tmp_path, idx_dir):
    """`optimizer=adam optimizer.lr=1e6` reached loss 2.8e31 and was recorded finished."""
    out = optbench(tmp_path, "optimizer=adam", "optimizer.lr=1e6", f"task.data_dir={idx_dir}", "logger=none", *FAST)
    assert out.returncode == 0, out.stderr[-2000:]
    [s] = summaries(tmp_path)
    assert s["status"] == "diverged" and "loss became" in s["reason"], s["reason"]
