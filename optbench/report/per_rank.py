"""Memory per rank when one training step is spread over N data-parallel ranks, from the projected step.

Each rank trains on the model file's batch (the per-rank micro-batch), so its activations and temporaries are the
projected step's. What the sharding strategies divide by N is the model state, at the step's peak:

- ``ddp``: nothing; every rank holds the parameters, the gradients and the optimizer state;
- ``zero1`` (``ZeroRedundancyOptimizer``, ``distributed.shard_optimizer_state=true``): the optimizer state;
- ``zero2``: the state and the gradients (each rank keeps the reduced gradients of its share);
- ``fsdp`` (ZeRO-3, FSDP2's ``fully_shard``): the state, the gradients and the parameters.

Shares are the even ones (bytes / N). Left out: communication buckets, FSDP's all-gathered unit (one wrapped
block's parameters at a time) and allocator fragmentation, so a row that fits only just may not fit in practice.
The 2-rank CPU runs check the optimizer-state share against measurement (``tests/test_distributed.py``): ZeRO-1
gives each rank whole tensors, so its measured share is the even one give or take one tensor's state.
"""

from __future__ import annotations

import pandas as pd

from optbench.report.memory_table import fits
from optbench.units import human_bytes

RANKS = (1, 8, 64)
# which of the step's categories each strategy divides over the ranks
SHARDED = {
    "ddp": (),
    "zero1": ("state",),
    "zero2": ("state", "grads"),
    "fsdp": ("state", "grads", "params"),
}
CATEGORIES = ("params", "grads", "state", "step_temporaries", "activations", "temporaries")


def per_rank(table: pd.DataFrame, ranks=RANKS, strategies=tuple(SHARDED)) -> pd.DataFrame:
    """One row per (model, precision, optimizer, strategy, N): bytes per rank of each category at the single
    device's peak, and the peak per rank: the larger of the passes' peak and the optimizer step's, each with the
    rank's shares."""
    rows = []
    for _, row in table.iterrows():
        for strategy in strategies:
            for n in ranks:
                shares = {
                    c: row[f"{c}_bytes"] / (n if c in SHARDED[strategy] else 1) for c in CATEGORIES
                }  # fmt: skip
                rows.append(
                    {
                        "model": row["model"],
                        "precision": row["precision"],
                        "optimizer": row["optimizer"],
                        "strategy": strategy,
                        "ranks": n,
                        **{f"{c}_bytes": int(v) for c, v in shares.items()},
                        "peak_bytes": int(max(passes_peak(row, strategy, n), step_peak(row, strategy, n))),
                    }
                )
    return pd.DataFrame(rows)


def passes_peak(row: pd.Series, strategy: str, n: int) -> float:
    """The forward and backward passes' peak per rank: the passes' own peak (``passes_peak_bytes``, at which the
    optimizer state is resident and the activations are alive), its categories divided as the strategy shards
    them. Counted for every row, also where the single device's peak falls in the optimizer step (there the
    activations are gone, and the step's categories would miss the passes' peak)."""
    parts = {c: row[f"passes_{c}_bytes"] for c in CATEGORIES}
    shared = sum(v / (n if c in SHARDED[strategy] else 1) for c, v in parts.items())
    return row["passes_peak_bytes"] - sum(parts.values()) + shared


def step_peak(row: pd.Series, strategy: str, n: int) -> float:
    """The optimizer step's peak per rank: parameters, their gradients (as many bytes: the same dtype) and the
    state, each divided as the strategy shards it, plus the step's own temporaries (not sharded: a rank steps its
    share, but an element-wise step's temporaries follow the largest tensor it holds)."""
    params, state = row["resident_params_bytes"], row["resident_state_bytes"]
    share = {c: (n if c in SHARDED[strategy] else 1) for c in ("params", "grads", "state")}
    return params / share["params"] + params / share["grads"] + state / share["state"] + row["step_transient_bytes"]


def per_rank_display(rows: pd.DataFrame) -> pd.DataFrame:
    """One model's per-rank rows in human units."""
    return pd.DataFrame(
        {
            "optimizer": rows["optimizer"],
            "precision": rows["precision"],
            "strategy": rows["strategy"],
            "ranks": rows["ranks"],
            "params": rows["params_bytes"].map(human_bytes),
            "grads": rows["grads_bytes"].map(human_bytes),
            "state": rows["state_bytes"].map(human_bytes),
            "peak per rank": rows["peak_bytes"].map(human_bytes),
            "fits in (GiB)": rows["peak_bytes"].map(fits),
        }
    ).reset_index(drop=True)
