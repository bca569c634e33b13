"""Every ranking follows the task's direction: tuner, best lr, summary order, time-to-target, trajectories."""

from __future__ import annotations

import json
import math

import pandas as pd

from optbench.ranking import best_index, frame_direction, higher_is_better, reaches, sort_best_first
from optbench.report.tables import Target, best_lr, summary_table, time_to_target
from optbench.report.trajectories import best_runs

from .test_cli import optbench, summaries


def runs_frame(rows, higher):
    base = {"metric_name": "mse", "unit": "examples", "throughput": 1.0, "state_bytes": 8, "higher_is_better": higher}
    return pd.DataFrame([{**base, **r} for r in rows])


def lower_is_better_runs():
    return runs_frame(
        [
            {"optimizer": "a", "lr": 1e-3, "seed": 0, "final_metric": 9.0, "status": "finished", "run_id": "r1"},
            {"optimizer": "a", "lr": 1.0, "seed": 0, "final_metric": 0.44, "status": "finished", "run_id": "r2"},
            {"optimizer": "a", "lr": 10.0, "seed": 0, "final_metric": None, "status": "diverged", "run_id": "r3"},
            {"optimizer": "b", "lr": 0.1, "seed": 0, "final_metric": 0.1, "status": "finished", "run_id": "r4"},
        ],
        higher=False,
    )


def test_direction_is_read_from_the_task_config_then_the_class():
    assert higher_is_better({"higher_is_better": False, "_target_": "optbench.tasks.mnist_mlp.MnistMLP"}) is False
    assert higher_is_better({"_target_": "optbench.tasks.functions2d.Function2D"}) is False
    assert higher_is_better({"_target_": "optbench.tasks.mnist_mlp.MnistMLP"}) is True


def test_best_index_and_targets_in_both_directions():
    assert best_index([9.0, 0.44, None, math.nan], higher=False) == 1
    assert best_index([9.0, 0.44, None], higher=True) == 0
    assert reaches(0.3, 0.5, higher=False) and not reaches(0.3, 0.5, higher=True)
    assert not reaches(math.nan, 0.5, higher=False)


def test_best_lr_and_summary_order_follow_a_lower_is_better_metric():
    runs = lower_is_better_runs()
    assert frame_direction(runs) is False
    assert best_lr(runs[runs["optimizer"] == "a"]) == 1.0  # not 1e-3 (the maximum), and never the diverged lr
    table = summary_table(runs, pd.DataFrame())
    assert list(table["optimizer"]) == ["b", "a"]  # 0.1 before 0.44
    assert table.loc[table["optimizer"] == "a", "best lr"].item() == 1.0


def test_time_to_target_for_a_lower_is_better_metric():
    metrics = pd.DataFrame(
        [
            {"run_id": "r", "split": "eval", "step": 1, "mse": 2.0, "train_s": 1.0},
            {"run_id": "r", "split": "eval", "step": 2, "mse": 0.4, "train_s": 2.0},
            {"run_id": "r", "split": "eval", "step": 3, "mse": 0.1, "train_s": 3.0},
        ]
    )
    assert time_to_target(metrics, ["r"], Target("mse", 0.5, higher=False)) == [2.0]
    assert time_to_target(metrics, ["r"], Target("mse", 0.5, higher=True)) == [1.0]


def test_time_to_target_reads_the_validation_split_never_the_test_split():
    """The final row holds the test split's metric beside the final validation value (``eval_<metric>``): a run
    whose validation never reaches the target misses it, however good its test value."""
    rows = [
        {"run_id": "r", "split": "eval", "step": 100, "loss": 4.6, "train_s": 10.0},
        {"run_id": "r", "split": "test", "step": 200, "loss": 4.2, "eval_loss": 4.45, "train_s": 20.0},
    ]
    metrics = pd.DataFrame(rows)
    assert time_to_target(metrics, ["r"], Target("loss", 4.4, higher=False)) == []  # test 4.2, validation 4.45
    assert time_to_target(metrics, ["r"], Target("loss", 4.5, higher=False)) == [20.0]  # the final validation
    # a target on the validation loss itself (the translation task records it at every evaluation as eval_loss)
    mt = pd.DataFrame(
        [
            {"run_id": "m", "split": "eval", "step": 150, "eval_loss": 3.4, "bleu": 9.0, "train_s": 5.0},
            {"run_id": "m", "split": "test", "step": 450, "eval_loss": 2.9, "bleu": 23.0, "train_s": 15.0},
        ]
    )
    assert time_to_target(mt, ["m"], Target("eval_loss", 3.0, higher=False)) == [15.0]
    # BLEU: the final validation decoding (eval_bleu) counts at the end, never the test split's 23
    assert time_to_target(mt.assign(eval_bleu=[None, 19.0]), ["m"], Target("bleu", 20.0, higher=True)) == []
    assert time_to_target(mt.assign(eval_bleu=[None, 21.0]), ["m"], Target("bleu", 20.0, higher=True)) == [15.0]
    # a task scored on the test split by protocol records no final validation value: its evaluations count as
    # they are (DeepOBS's MNIST; the translation shootout that decodes only at the end)
    end_only = pd.DataFrame([{"run_id": "s", "split": "test", "step": 450, "bleu": 24.0, "train_s": 9.0}])
    assert time_to_target(end_only, ["s"], Target("bleu", 20.0, higher=True)) == [9.0]


def test_sort_best_first_puts_missing_values_last():
    frame = pd.DataFrame({"v": [3.0, None, 1.0, 2.0]})
    assert sort_best_first(frame, "v", higher=False)["v"].tolist()[:3] == [1.0, 2.0, 3.0]
    assert sort_best_first(frame, "v", higher=True)["v"].tolist()[:3] == [3.0, 2.0, 1.0]


def test_trajectories_take_the_best_run_in_the_task_direction():
    best = best_runs(lower_is_better_runs())
    assert best.loc["a", "lr"] == 1.0 and best.loc["b", "lr"] == 0.1


def tune_rosenbrock(tmp_path, *extra: str) -> dict:
    """The issue's command: a 2-point lr grid for Adafactor on Rosenbrock, one seed; returns tune_results.json."""
    out = optbench(
        tmp_path,
        "-m",
        "experiment=tune",
        "task=rosenbrock",
        "optimizer=adafactor",
        "hydra.sweeper.num_lrs=2",
        "hydra.sweeper.seeds=[0]",
        "logger=none",
        *extra,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    [result] = json.loads(next((tmp_path / "outputs/multirun").rglob("tune_results.json")).read_text())
    return result


def test_tuner_minimises_a_lower_is_better_task(tmp_path):
    result = tune_rosenbrock(tmp_path)
    by_lr = {s["lr"]: s["final_metric"] for s in summaries(tmp_path)}
    assert set(by_lr) == {1e-3, 1.0} and by_lr[1.0] < by_lr[1e-3]
    assert result["best_lr"] == 1.0 and result["direction"] == "minimize"


def test_tuner_direction_can_be_forced(tmp_path):
    result = tune_rosenbrock(tmp_path, "hydra.sweeper.direction=maximize")
    assert result["best_lr"] == 1e-3 and result["direction"] == "maximize"


def test_a_tuning_score_points_its_own_way():
    from optbench.ranking import score_direction

    assert score_direction(None, True) and score_direction("final_metric", True)
    assert not score_direction("final_metric", False)  # the task's own direction for its headline
    assert not score_direction("final_eval_loss", True) and not score_direction("final_perplexity", True)
    assert score_direction("final_eval_accuracy", True)
