"""The committed scoring (results/scoring/, results/workload_suite/): its records re-render to exactly the committed
tables, and the README quotes the score tables."""

from __future__ import annotations

import pytest

from .conftest import REPO, render_committed

README = (REPO / "README.md").read_text()


@pytest.mark.parametrize("report", ["scoring", "workload_suite"])
def test_the_committed_records_rerender_to_the_committed_tables(tmp_path, report):
    committed = REPO / "results" / report
    if report == "workload_suite" and not (committed / "scores.md").exists():
        pytest.skip("the workload suite's scoring is not committed yet")
    out = render_committed(report, tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    tables = sorted(p.name for p in committed.glob("*.md"))
    assert {"scores.md", "tasks.md"} <= set(tables)
    for name in tables:
        assert (tmp_path / report / name).read_text() == (committed / name).read_text(), name
    assert (tmp_path / report / "profiles.png").stat().st_size > 10_000


@pytest.mark.parametrize("report", ["scoring", "workload_suite"])
def test_the_readme_quotes_the_committed_score_table(report):
    scores = REPO / "results" / report / "scores.md"
    if not scores.exists():
        pytest.skip(f"results/{report}/scores.md is not committed yet")
    rows = [line for line in scores.read_text().splitlines() if line.startswith("| ") and "optimizer" not in line]
    assert rows and all(row in README for row in rows), "README's score table differs from the committed one"
