"""The committed Adafactor Table 2: its records re-render to exactly the committed table, and they meet the budget."""

from __future__ import annotations

import json

import pandas as pd

from .conftest import REPO, render_committed

OUT = REPO / "results" / "adafactor_table2"
STORE = OUT / "store"
BUDGET = "cpu"


def records() -> list[tuple[dict, dict]]:
    runs = sorted((STORE / "runs").iterdir())
    return [(json.loads((r / "config.json").read_text()), json.loads((r / "summary.json").read_text())) for r in runs]


def test_the_committed_records_rerender_to_the_committed_table(tmp_path):
    out = render_committed("table2", tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    for suffix in ("md", "csv", "tex"):
        name = f"table2_{BUDGET}.{suffix}"
        assert (tmp_path / "adafactor_table2" / name).read_text() == (OUT / name).read_text(), name
    assert (tmp_path / "adafactor_table2" / f"bleu_{BUDGET}.png").stat().st_size > 10_000


def test_the_cpu_budget_ran_every_row_within_two_hours_and_adam_with_warmup_passes_25_bleu():
    rows = [(c, s) for c, s in records() if c["table2"]["budget"] == BUDGET]
    assert sorted((c["table2"]["row"], c["table2"]["warmup"]) for c, _s in rows) == sorted(
        (row, warmup) for row in {c["table2"]["row"] for c, _s in rows} for warmup in (True, False)
    )
    assert len(rows) == 24 and all(s["status"] in ("finished", "diverged") for _c, s in rows)
    seconds = sum((pd.Timestamp(s["end_time"]) - pd.Timestamp(s["start_time"])).total_seconds() for _c, s in rows)
    assert seconds < 2 * 3600
    [adam] = [s for c, s in rows if c["table2"]["row"] == "adam" and c["table2"]["warmup"]]
    assert adam["final_metric"] >= 25 and adam["final_beam"] == 4


def test_the_readme_shows_the_committed_table():
    blocks = (OUT / f"table2_{BUDGET}.md").read_text().split("\n\n")
    table = next(b for b in blocks if b.startswith("| setting")).strip()
    assert table.count("\n") >= 13 and table in (REPO / "README.md").read_text()
