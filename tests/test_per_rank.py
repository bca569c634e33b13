"""Memory per rank: what each sharding strategy divides over N ranks, on a hand-made projected step."""

from __future__ import annotations

import pandas as pd

from optbench.report.per_rank import per_rank


def step(activations: int) -> pd.DataFrame:
    """One projected step: params 100 B, state 200 B, no gradients at the peak (it is in the forward pass)."""
    row = {"model": "m", "precision": "fp32", "optimizer": "adam", "params_bytes": 100, "grads_bytes": 0,
           "state_bytes": 200, "step_temporaries_bytes": 0, "activations_bytes": activations,
           "temporaries_bytes": 0, "peak_bytes": 300 + activations, "resident_params_bytes": 100,
           "resident_state_bytes": 200, "step_transient_bytes": 50}  # fmt: skip
    passes = {f"passes_{c}": row[f"{c}_bytes"] for c in ("params", "grads", "state", "step_temporaries",
              "activations", "temporaries")}  # fmt: skip
    return pd.DataFrame(
        [{**row, **{f"{k}_bytes": v for k, v in passes.items()}, "passes_peak_bytes": row["peak_bytes"]}]
    )


def test_each_strategy_divides_its_categories_and_the_peak_follows():
    rows = per_rank(step(1000), ranks=(1, 8)).set_index(["strategy", "ranks"])
    assert (rows.loc[("ddp", 8), ["params_bytes", "state_bytes", "peak_bytes"]] == [100, 200, 1300]).all()
    assert rows.loc[("zero1", 8), "state_bytes"] == 25 and rows.loc[("zero1", 8), "params_bytes"] == 100
    assert rows.loc[("fsdp", 8), ["params_bytes", "state_bytes"]].tolist() == [12, 25]
    assert rows.loc[("fsdp", 8), "peak_bytes"] == 1037  # 12.5 + 25 + the activations, which no strategy divides
    for strategy in ("ddp", "zero1", "zero2", "fsdp"):  # one rank: nothing to shard
        assert rows.loc[(strategy, 1), "peak_bytes"] == 1300


def test_with_few_activations_the_optimizer_step_sets_the_peak():
    rows = per_rank(step(10), ranks=(2,)).set_index("strategy")
    # during the step: params 100 + their gradients 100 + state and the step's 50 B of temporaries
    assert rows.loc["ddp", "peak_bytes"] == 450 and rows.loc["zero1", "peak_bytes"] == 350
    assert rows.loc["zero2", "peak_bytes"] == 300 and rows.loc["fsdp", "peak_bytes"] == 250


def test_where_the_optimizer_step_sets_one_devices_peak_the_passes_still_count_per_rank():
    """params 1000 B, state 4000 B, activations 1200 B. On one device the step peaks higher (params + grads + state
    + 500 B of its temporaries = 6500 B against the passes' 6200 B), so at the peak the activations are 0; under
    FSDP on 8 ranks the passes (125 + 500 + 1200 = 1825 B) peak above the step (125 + 125 + 500 + 500 = 1250 B)."""
    row = {"model": "m", "precision": "fp32", "optimizer": "schedulefree", "params_bytes": 1000, "grads_bytes": 1000,
           "state_bytes": 4000, "step_temporaries_bytes": 500, "activations_bytes": 0, "temporaries_bytes": 0,
           "peak_bytes": 6500, "resident_params_bytes": 1000, "resident_state_bytes": 4000,
           "step_transient_bytes": 500, "passes_peak_bytes": 6200, "passes_params_bytes": 1000,
           "passes_grads_bytes": 0, "passes_state_bytes": 4000, "passes_step_temporaries_bytes": 0,
           "passes_activations_bytes": 1200, "passes_temporaries_bytes": 0}  # fmt: skip
    rows = per_rank(pd.DataFrame([row]), ranks=(1, 8)).set_index(["strategy", "ranks"])
    assert rows.loc[("ddp", 1), "peak_bytes"] == 6500  # one device: the step's
    assert rows.loc[("fsdp", 8), "peak_bytes"] == 1825  # the passes', which the step's categories never show
    assert rows.loc[("zero1", 8), "peak_bytes"] == 3000  # the step (1000 + 1000 + 500 + 500) over the passes (2700)


def test_the_readme_quotes_the_committed_per_rank_table():
    from .conftest import REPO

    committed = (REPO / "results" / "memory" / "per_rank_llama_7b.md").read_text().splitlines()
    readme = (REPO / "README.md").read_text()
    quoted = [
        line for line in readme.splitlines() if line.startswith("| ") and " bf16-mixed " in line and "| fsdp" in line
    ]
    assert quoted and all(line in committed for line in quoted)
