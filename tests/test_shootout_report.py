"""The memory-efficient shootout table: lr picked by the sweep's tune_metric on the grid seed, every seed shown."""

from __future__ import annotations

import pandas as pd

from optbench.report.shootout import picked, quality_vs_memory, shootout_display, shootout_table


def runs() -> pd.DataFrame:
    rows = []
    # adam: val loss best at lr 2e-3, although lr 6e-3 has the higher test BLEU on seed 0 (must not be picked)
    for lr, val, bleu in ((6.7e-4, 2.3, 20.0), (2e-3, 2.0, 25.0), (6e-3, 2.1, 26.0)):
        rows.append(dict(optimizer="adam", lr=lr, seed=0, final_eval_loss=val, final_metric=bleu, state_bytes=200))
    rows.append(dict(optimizer="adam", lr=2e-3, seed=1, final_eval_loss=2.05, final_metric=24.0, state_bytes=200))
    for lr, val, bleu, status in ((1e-4, 2.6, 15.0, "finished"), (3e-4, None, None, "diverged")):
        rows.append(
            dict(
                optimizer="lion", lr=lr, seed=0, final_eval_loss=val, final_metric=bleu, state_bytes=100, status=status
            )
        )
    frame = pd.DataFrame(rows)
    frame["status"] = frame["status"].fillna("finished")
    return frame.assign(
        tune_metric="final_eval_loss",
        higher_is_better=True,
        mem_peak_bytes=1000.0,
        mem_state_bytes=100.0,
        throughput=3000.0,
    )


def test_the_lr_is_picked_by_validation_loss_and_every_seed_at_it_is_shown():
    best = picked(runs())
    assert sorted(best.loc[best["optimizer"] == "adam", "seed"]) == [0, 1]
    assert set(best.loc[best["optimizer"] == "adam", "lr"]) == {2e-3}
    assert set(best.loc[best["optimizer"] == "lion", "lr"]) == {1e-4}  # the diverged lr is never the pick


def test_the_table_ranks_by_bleu_and_shows_mean_and_std():
    table = shootout_table(runs())
    assert list(table["optimizer"]) == ["adam", "lion"]
    adam = table.iloc[0]
    assert adam["n"] == 2 and adam["bleu"] == "24.50 ± 0.71" and adam["grid"] == "0.00067, 0.002, 0.006"
    shown = shootout_display(table)
    assert list(shown.columns[:6]) == ["optimizer", "lr (grid)", "test BLEU", "n", "val loss", "optimizer state"]
    fig = quality_vs_memory(table, "test")
    assert len(fig.axes) == 2
