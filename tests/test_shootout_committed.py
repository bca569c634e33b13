"""The committed memory-efficient shootout: its records re-render to exactly the committed table, every optimizer
ran both seeds at a pick inside its grid, and the README quotes the table."""

from __future__ import annotations

import json

import pandas as pd

from optbench.report.data import load_runs
from optbench.report.shootout import picked

from .conftest import REPO, render_committed

OUT = REPO / "results" / "memory_efficient_shootout"
STORE = OUT / "store"
ARMS = {"adam", "adafactor", "sm3", "came", "adam_mini", "lion", "adamw8bit"}


def test_the_committed_records_rerender_to_the_committed_table(tmp_path):
    out = render_committed("shootout", tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    for name in ("shootout.md", "shootout.csv", "shootout.tex"):
        assert (tmp_path / "memory_efficient_shootout" / name).read_text() == (OUT / name).read_text(), name
    assert (tmp_path / "memory_efficient_shootout" / "quality_vs_memory.png").stat().st_size > 10_000


def test_every_optimizer_ran_both_seeds_at_a_pick_inside_its_grid():
    runs, _metrics = load_runs(str(STORE))
    assert set(runs["optimizer"]) == ARMS
    best = picked(runs)
    for name, group in best.groupby("optimizer"):
        assert sorted(group["seed"]) == [0, 1], name
        grid = sorted(runs.loc[(runs["optimizer"] == name) & (runs["seed"] == 0), "lr"])
        assert grid[0] < group["lr"].iloc[0] < grid[-1], f"{name}: the pick sits at an end of its grid {grid}"
    finished = runs[runs["status"] == "finished"]
    seconds = sum(
        (pd.Timestamp(e) - pd.Timestamp(s)).total_seconds()
        for s, e in zip(finished["start_time"], finished["end_time"], strict=True)
    )
    assert seconds < len(finished) * 6 * 60  # the Table 2 CPU budget: minutes per run, not hours


def test_the_readme_shows_the_committed_table():
    blocks = (OUT / "shootout.md").read_text().split("\n\n")
    table = next(b for b in blocks if b.startswith("| optimizer")).strip()
    assert table.count("\n") == len(ARMS) + 1 and table in (REPO / "README.md").read_text()
    summary = json.loads(next(STORE.rglob("summary.json")).read_text())
    assert summary["sweep"] == "memory_efficient_shootout"
