"""Cross-workload scoring on hand-made numbers whose answers are known."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from optbench.report.scoring import performance_profile, performance_ratios, profile_score
from optbench.report.stats import holm, interval_text, mean_interval, paired_test, pooled_sd, versus_best

INF = math.inf
TIMES = pd.DataFrame({"x": [10.0, 30.0], "y": [20.0, 15.0], "z": [INF, 60.0]}, index=["A", "B"])


def test_ratios_are_to_each_tasks_fastest_and_misses_are_infinite():
    ratios = performance_ratios(TIMES)
    assert ratios.loc["A"].tolist() == [1.0, 2.0, INF] and ratios.loc["B"].tolist() == [2.0, 1.0, 4.0]
    nobody = performance_ratios(pd.DataFrame({"x": [INF], "y": [INF]}, index=["C"]))
    assert nobody.loc["C"].tolist() == [INF, INF]  # a task no optimizer reached counts against all of them


def test_profile_is_the_fraction_of_tasks_within_tau_of_the_fastest():
    profile = performance_profile(TIMES, [1.0, 1.5, 2.0, 4.0, 8.0])
    assert profile["x"].tolist() == [0.5, 0.5, 1.0, 1.0, 1.0]
    assert profile["y"].tolist() == [0.5, 0.5, 1.0, 1.0, 1.0]
    assert profile["z"].tolist() == [0.0, 0.0, 0.0, 0.5, 0.5]  # never reaches task A


def test_score_is_the_normalised_area_under_the_profile():
    score = profile_score(TIMES, tau_max=4.0)
    # x: task A within 1 -> area 3, task B within 2 -> area 2; (3 + 2) / 2 tasks / (4 - 1)
    assert score["x"] == pytest.approx(5 / 6) and score["y"] == pytest.approx(5 / 6)
    assert score["z"] == 0.0  # reaches B only at tau = 4, the end of the range
    fine = performance_profile(TIMES, np.linspace(1, 4, 30001))
    assert score["x"] == pytest.approx(np.trapezoid(fine["x"], fine.index) / 3, abs=1e-3)  # the same area, numerically
    assert profile_score(pd.DataFrame({"a": [1.0], "b": [INF]}))["a"] == 1.0  # fastest everywhere scores 1


@pytest.mark.parametrize("n", [3, 5])
def test_the_95_percent_interval_covers_the_true_mean_95_percent_of_the_time_at_small_n(n):
    rng = np.random.default_rng(n)
    covered = 0
    for _ in range(2000):
        _, low, high = mean_interval(rng.normal(10.0, 2.0, size=n))
        covered += low <= 10.0 <= high
    assert 0.93 <= covered / 2000 <= 0.97


def test_the_interval_is_students_and_none_is_given_below_three_seeds():
    mean, low, high = mean_interval([1.0, 2.0, 3.0])
    assert mean == 2.0 and high - mean == pytest.approx(4.302652729911275 * 1.0 / math.sqrt(3))  # t(0.975, 2)
    assert mean_interval([1.0, 2.0]) is None and mean_interval([3.0, INF, 4.0]) is None
    assert interval_text([0.97, 0.98]) == "0.97, 0.98 (n=2)"  # the values, not a 50%-coverage [min, max]
    assert interval_text([1.0, 2.0, 3.0]) == "2 [-0.4841, 4.484] (n=3)"
    assert interval_text([1.0, 2.0, 3.0], floor=0.0) == "2 [0, 4.484] (n=3)"  # a time never goes below 0
    assert interval_text([INF, INF, INF]) == "missed (n=3)"
    assert interval_text([300.0, INF, 450.0], ".0f") == "missed on 1 of 3; reached: 300, 450"


def test_paired_t_test_against_the_closed_form_for_three_seeds():
    a = {0: 1.0, 1: 2.0, 2: 3.0}
    b = {0: 0.5, 1: 1.4, 2: 2.6}  # differences 0.5, 0.6, 0.4: mean 0.5, sd 0.1
    t = paired_test(a, b)
    statistic = 0.5 / (0.1 / math.sqrt(3))
    p_df2 = 2 * (1 - (0.5 + statistic / (2 * math.sqrt(2 + statistic * statistic))))  # Student's t, 2 dof
    assert (t.diff, t.n) == (pytest.approx(0.5), 3) and t.p == pytest.approx(p_df2, rel=1e-6)
    assert (t.low, t.high) == (pytest.approx(0.5 - 4.302653 * 0.1 / math.sqrt(3)), pytest.approx(0.5 + 0.2484, 1e-3))
    assert math.isnan(paired_test({0: 1.0}, {0: 2.0}).p)  # one seed says nothing about significance
    assert paired_test({0: 1.0, 1: 2.0}, {1: 1.0, 2: 5.0}).n == 1  # only common seeds pair


def test_holm_against_its_step_down_definition():
    # sorted p: 0.01 (x3 = 0.03), 0.03 (x2 = 0.06), 0.04 (x1 = 0.04, raised to the running max 0.06)
    assert holm({"a": 0.04, "b": 0.01, "c": 0.03, "d": math.nan}) == pytest.approx(
        {"a": 0.06, "b": 0.03, "c": 0.06, "d": math.nan}, nan_ok=True
    )
    assert holm({"a": 0.5, "b": 0.9}) == {"a": 1.0, "b": 1.0}


def test_a_table_of_comparisons_controls_the_family_wise_error():
    per_seed = {
        "adam": {0: 0.970, 1: 0.972, 2: 0.971},
        "adamw": {0: 0.971, 1: 0.970, 2: 0.972},  # indistinguishable from adam
        "sgd": {0: 0.950, 1: 0.951, 2: 0.949},  # clearly worse
    }
    standing = versus_best({**per_seed, "lion": {0: 0.9}}, higher=True)
    assert standing["adam"] == "best" and standing["lion"] == "untested (n=1)"  # one seed: no test, not "tied"
    # two tests (lion's one seed is none): the interval is simultaneous, each at 1 - 0.05 / 2
    half = stats.t.ppf(1 - 0.025 / 2, 2) * np.std([0.001, -0.002, 0.001], ddof=1) / math.sqrt(3)
    assert standing["adamw"].startswith(f"no difference detected (d=0 [{-half:.3g}, {half:.3g}], p_Holm=")
    assert standing["sgd"].startswith("worse (d=-0.021, p_Holm=")
    assert versus_best(per_seed, higher=False)["sgd"] == "best"  # read as lower-is-better, sgd is best
    # five optimizers each with p about 0.03 against the best: every one "worse" uncorrected, none after Holm
    family = {"best": {s: 1.0 for s in range(3)}}
    for i in range(5):
        family[f"o{i}"] = {0: 0.9, 1: 0.95 - 0.001 * i, 2: 0.92}
    assert all(paired_test(family[f"o{i}"], family["best"]).p < 0.05 for i in range(5))
    words = [v for k, v in versus_best(family, higher=True).items() if k != "best"]
    assert all(v.startswith("no difference detected (d=") for v in words)
    for word in words:  # and each simultaneous interval holds 0, as Holm's verdict says
        low, high = (float(x) for x in word.split("[")[1].split("]")[0].split(", "))
        assert low < 0 < high


def test_pooled_sd_over_configurations_with_two_or_more_seeds():
    sd, dof, used = pooled_sd([[1.0, 3.0], [10.0, 12.0, 14.0], [5.0], [math.nan, 2.0]])
    assert (dof, used) == (3, 2) and sd == pytest.approx(math.sqrt((2 + 8) / 3))


def fake_run(store, task, optimizer, seed, final, hit_s, higher, target, lr=1e-3, train=(), **extra):
    """One finished record whose evaluations reach ``target`` first at training second ``hit_s`` (None = never);
    ``train``: its (step, training seconds) log rows; ``extra``: more summary keys, and ``tune_metric`` for the
    config."""
    from optbench.tracking.store import RunStore

    rid = f"{task}-{optimizer}-{seed}-{lr:g}"
    metric = "accuracy" if higher else "loss"
    miss = target - 0.1 if higher else target + 0.1
    evals = [(10, 5.0, miss)] + ([(20, hit_s, target)] if hit_s is not None else []) + [(30, 99.0, final)]
    metrics = [
        {"split": "test" if step == 30 else "eval", "step": step, "train_s": s, metric: v} for step, s, v in evals
    ] + [{"split": "train", "step": step, "train_s": s, "loss": 1.0} for step, s in train]
    config = {"task": {"name": task, "target": target}, "optimizer": {"name": optimizer, "lr": lr}, "seed": seed}
    if "tune_metric" in extra:
        config["tune_metric"] = extra.pop("tune_metric")
    summary = {
        "run_id": rid,
        "task": task,
        "optimizer": optimizer,
        "label": optimizer,
        "status": "finished",
        "seed": seed,
        "lr": lr,
        "final_metric": final,
        "metric_name": metric,
        "higher_is_better": higher,
        "sweep": "s",
        "tags": [],
        **extra,
    }
    RunStore(store).commit(rid, config, metrics, summary)


def test_scoring_report_on_hand_made_stores_whose_answer_is_known(tmp_path):
    from optbench.report.workloads import gather, render, score_table, task_tables

    # T1 (higher is better, target 0.9): a reaches it at 10 s, b at 20 s, c at 40 s (4x: no area left)
    # T2 (lower is better, target 1.0): a at 30 s, b at 15 s, c never
    for seed in (0, 1, 2):
        for name, hit, final in (("a", 10.0, 0.95 + seed * 1e-3), ("b", 20.0, 0.94 + seed * 1e-3), ("c", 40.0, 0.91)):
            fake_run(tmp_path / "s1", "T1", name, seed, final, hit, True, 0.9)
        for name, hit, final in (("a", 30.0, 0.8 + seed * 0.01), ("b", 15.0, 0.81 + seed * 0.01), ("c", None, 1.5)):
            fake_run(tmp_path / "s2", "T2", name, seed, final, hit, False, 1.0)
    stores = {"T1": str(tmp_path / "s1"), "T2": str(tmp_path / "s2")}
    results = gather(stores)
    scores = score_table(results).set_index("optimizer")
    assert scores.loc["a", "score (time, measured)"] == pytest.approx(5 / 6)
    assert scores.loc["b", "score (time, measured)"] == pytest.approx(5 / 6)
    assert "score (time, step_parts)" not in scores  # one clock: the measured one
    assert scores.loc["a", "score (steps)"] == scores.loc["b", "score (steps)"] == 1.0  # all hit at step 20
    assert scores.loc["c", "score (time, measured)"] == 0.0 and scores.loc["c", "tasks reached"] == 1
    tasks = task_tables(results)
    t2 = tasks[tasks.task == "T2"].set_index("optimizer")
    assert list(t2.index) == ["a", "b", "c"]  # lower is better: a's 0.81 mean first, c's 1.5 last
    assert t2.loc["a", "vs best"] == "best"
    assert t2.loc["b", "vs best"].startswith("worse (d=0.01, p_Holm=")  # b is 0.01 worse on every seed
    assert t2.loc["c", "time to target (s)"] == "missed (n=3)"
    assert t2.loc["b", "time to target (s)"] == "15.0 [15.0, 15.0] (n=3)"
    paths = render(tmp_path / "out", stores, None, 4.0)
    assert {p.name for p in paths} >= {"profiles.png", "scores.md", "tasks.md", "scores.csv"}
    written = pd.read_csv(tmp_path / "out/scores.csv").set_index("optimizer")
    assert written.loc["c", "score (time, measured)"] == 0.0
    caption = (tmp_path / "out/tasks.md").read_text().splitlines()[0]
    assert "Student-t" in caption and "Holm" in caption and "no difference detected" in caption


def test_step_cost_times_every_run_at_its_optimizers_fastest_step_so_a_slowed_run_does_not_count(tmp_path):
    from optbench.errors import OptbenchError
    from optbench.report.workloads import gather, score_table, seconds_per_step

    # a: 0.1 s per step, but seed 1 ran beside other work at 0.5 s per step; b: 0.2 s per step on both seeds.
    # Both reach the target at step 20.
    for seed, per_step in ((0, 0.1), (1, 0.5)):
        train = [(10, 10 * per_step), (20, 20 * per_step), (30, 30 * per_step)]
        fake_run(tmp_path / "s", "T", "a", seed, 0.95, 20 * per_step, True, 0.9, train=train)
        fake_run(tmp_path / "s", "T", "b", seed, 0.95, 4.0, True, 0.9, train=[(10, 2.0), (30, 6.0)])
    fake_run(tmp_path / "s", "T2", "a", 0, 0.95, 1.0, True, 0.9, train=[(10, 1.0)])
    fake_run(tmp_path / "s", "T2", "b", 0, 0.95, 1.0, True, 0.9, train=[(10, 1.0)])
    stores = {"T": str(tmp_path / "s"), "T2": str(tmp_path / "s")}
    measured = gather(stores)["T"][0].set_index(["label", "seed"])["seconds_to_target"]
    assert measured[("a", 0)] == 2.0 and measured[("a", 1)] == 10.0 and measured[("b", 1)] == 4.0
    assert score_table(gather(stores)).iloc[0]["optimizer"] == "b"  # a's median 6 s against b's 4 s
    costed = gather(stores, seconds_from="step_cost")["T"][0].set_index(["label", "seed"])["seconds_to_target"]
    assert costed[("a", 0)] == costed[("a", 1)] == pytest.approx(2.0)  # 20 steps x a's fastest 0.1 s
    assert costed[("b", 0)] == pytest.approx(4.0)
    scores = score_table(gather(stores, seconds_from="step_cost")).set_index("optimizer")
    assert scores.loc["a", "score (time, step_cost)"] == 1.0 and scores.loc["b", "score (time, step_cost)"] < 1.0
    # each run's own clock beside it: there b, whose seeds met no other work, is first
    assert scores.loc["b", "score (time, measured)"] == 1.0 > scores.loc["a", "score (time, measured)"]
    from optbench.report.data import load_runs

    runs, metrics = load_runs(str(tmp_path / "s"), task="T")
    assert seconds_per_step(metrics, runs.loc[runs["label"] == "a", "run_id"]) == pytest.approx(0.1)
    assert math.isnan(seconds_per_step(metrics.iloc[0:0], []))
    with pytest.raises(OptbenchError, match=r"report.seconds='wall'.*measured.*step_cost"):
        gather(stores, seconds_from="wall")


def test_step_parts_share_the_tasks_fastest_forward_backward_and_keep_each_optimizers_own_step(tmp_path):
    from optbench.report.workloads import gather, score_table

    # One task, every step's forward-backward the same work. a's runs met a loaded machine (forward-backward 0.9 s
    # and 0.5 s) and b's an idle one (0.2 s); a's own optimizer step is 0.01 s, b's 0.1 s. Both reach the target at
    # step 20 (evaluation at training second 20 x their measured step time).
    timings = {("a", 0): (0.9, 0.01), ("a", 1): (0.5, 0.012), ("b", 0): (0.2, 0.1), ("b", 1): (0.25, 0.1)}
    for (name, seed), (fb, opt) in timings.items():
        fake_run(
            tmp_path / "s",
            "T",
            name,
            seed,
            0.95,
            20 * (fb + opt),
            True,
            0.9,
            train=[(20, 20 * (fb + opt))],
            fwd_bwd_time_s=fb,
            opt_step_time_s=opt,
            precision="fp32",
        )
    # a run of another precision does other work: its faster forward-backward is not a's or b's
    fake_run(
        tmp_path / "s", "T", "c", 0, 0.95, 2.0, True, 0.9, fwd_bwd_time_s=0.05, opt_step_time_s=0.01, precision="bf16"
    )
    stores = {"T": str(tmp_path / "s")}
    rows = gather(stores, seconds_from="step_parts")["T"][0].set_index(["label", "seed"])["seconds_to_target"]
    assert rows[("a", 0)] == rows[("a", 1)] == pytest.approx(20 * (0.2 + 0.01))  # b's 0.2 s + a's own 0.01 s
    assert rows[("b", 0)] == rows[("b", 1)] == pytest.approx(20 * (0.2 + 0.1))
    assert rows[("c", 0)] == pytest.approx(20 * (0.05 + 0.01))
    measured = score_table(gather(stores)).set_index("optimizer")["score (time, measured)"]
    parts = score_table(gather(stores, seconds_from="step_parts")).set_index("optimizer")["score (time, step_parts)"]
    assert measured["b"] > measured["a"] and parts["a"] > parts["b"]  # the load a met no longer counts against it
    # records without step times keep their measured seconds
    fake_run(tmp_path / "u", "T", "a", 0, 0.95, 7.0, True, 0.9)
    assert gather({"T": str(tmp_path / "u")}, seconds_from="step_parts")["T"][0]["seconds_to_target"][0] == 7.0


def test_scoring_command_picks_tasks_and_names_a_missing_store(tmp_path):
    from .test_cli import optbench

    fake_run(tmp_path / "s1", "T1", "a", 0, 0.95, 10.0, True, 0.9)
    args = ["report=scoring", "+report.stores.T1=s1", "+report.stores.T2=nowhere", f"out_root={tmp_path / 'out'}"]
    bad = optbench(tmp_path, *args, module="optbench.report")
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    assert "report.stores names stores that do not exist:" in bad.stderr and f"T2: {tmp_path / 'nowhere'}" in bad.stderr
    unknown = optbench(tmp_path, *args, "report.tasks=[T9]", module="optbench.report")
    assert unknown.returncode == 2 and "report.tasks names ['T9'], which report.stores does not list" in unknown.stderr
    wall = optbench(tmp_path, *args, "report.tasks=[T1]", "report.seconds=wall", module="optbench.report")
    assert wall.returncode == 2 and "report.seconds='wall' is not a way to read training time" in wall.stderr
    assert "Traceback" not in wall.stderr
    ok = optbench(tmp_path, *args, "report.tasks=[T1]", module="optbench.report")
    assert ok.returncode == 0, ok.stderr
    assert (tmp_path / "out/scoring/scores.md").is_file() and "T1" in (tmp_path / "out/scoring/tasks.md").read_text()


def test_speedup_over_the_reference_interpolates_its_budgets_in_log_steps():
    from optbench.report.scoring import speedup_over, steps_to_reach

    budgets, finals = [250, 500, 1000, 2000], [4.0, 3.6, 3.3, 3.1]
    assert steps_to_reach(budgets, finals, 3.6) == (pytest.approx(500.0), "")
    steps, bound = steps_to_reach(budgets, finals, 3.45)  # halfway between 500 and 1000 in loss
    assert bound == "" and steps == pytest.approx(math.sqrt(500 * 1000))  # halfway in log(steps)
    assert speedup_over(budgets, finals, 3.3, 500) == (pytest.approx(2.0), "")  # reaches AdamW's 1000-step loss in 500
    assert speedup_over(budgets, finals, 3.0, 1000) == (2.0, ">")  # better than AdamW's largest budget: at least 2x
    assert speedup_over(budgets, finals, 4.5, 1000) == (0.25, "<")  # worse than its smallest: at most 0.25x


def test_workload_suite_tunes_every_task_and_optimizer_then_scores_them(tmp_path):
    from .test_cli import optbench

    suite = optbench(
        tmp_path,
        "-m",
        "experiment=workload_suite",
        "task=rosenbrock,beale",
        "optimizer=adam,sgd",
        "hydra.sweeper.num_lrs=2",
        "hydra.sweeper.extend_edges=0",
        "hydra.sweeper.seeds=[0,1]",
        "tune_metric=final_metric",  # the 2-D functions have no held-out loss
        "task.max_steps=50",
        "memory_probe_steps=[]",
        "logger=none",
    )
    assert suite.returncode == 0, suite.stderr[-3000:]
    assert not (tmp_path / "results/workload_suite").exists()  # other tasks than the suite's: the user's store
    store = tmp_path / "results/store"
    runs = [json.loads(p.read_text()) for p in store.glob("runs/*/summary.json")]
    assert {(r["task"], r["optimizer"]) for r in runs} == {
        (t, o) for t in ("rosenbrock", "beale") for o in ("adam", "sgd")
    }
    assert all(r["sweep"] == "workload_suite" for r in runs)
    table = next((tmp_path / "outputs/multirun").rglob("tuning_table.md")).read_text()
    assert table.count("| optimizer.weight_decay |") == 4  # one tuning table per task x optimizer
    report = optbench(
        tmp_path,
        "report=scoring",
        f"+report.stores.rosenbrock={store}",
        f"+report.stores.beale={store}",
        "report.tasks=[rosenbrock,beale]",
        "+report.targets.rosenbrock=100",
        "+report.targets.beale=100",
        "name=scoring_2d",
        module="optbench.report",
    )
    assert report.returncode == 0, report.stderr[-3000:]
    tasks = pd.read_csv(tmp_path / "results/scoring_2d/tasks.csv")
    assert set(tasks["task"]) == {"rosenbrock", "beale"} and set(tasks["optimizer"]) == {"adam", "sgd"}
    assert tasks["final metric"].str.endswith("(n=2)").all()  # both seeds at each optimizer's picks


def test_speedup_table_reads_adamw_at_several_budgets(tmp_path):
    from optbench.report.data import load_runs
    from optbench.report.workloads import ranked_runs, speedup_table
    from optbench.tracking.store import RunStore

    def record(name, budget, eval_loss, seed=0, lr=1e-3, sweep="suite"):
        rid = f"lm-{name}-{budget}-{seed}-{lr}"
        config = {"task": {"name": "lm", "target": 5.0}, "optimizer": {"name": name, "lr": lr}, "seed": seed}
        summary = {
            "run_id": rid,
            "task": "lm",
            "optimizer": name,
            "label": name,
            "status": "finished",
            "seed": seed,
            "lr": lr,
            "final_metric": eval_loss,
            "final_eval_loss": eval_loss,
            "tune_metric": "final_eval_loss",
            "metric_name": "loss",
            "higher_is_better": False,
            "planned_steps": budget,
            "sweep": sweep,
            "tags": [],
        }
        RunStore(tmp_path).commit(rid, config, [{"split": "test", "step": budget, "train_s": 1.0}], summary)

    for budget, value in ((250, 4.0), (500, 3.6), (1000, 3.3), (2000, 3.0)):
        sweep = "suite" if budget == 1000 else "adamw_budgets"  # the suite's own AdamW runs are the 1000-step point
        record("adamw", budget, value, sweep=sweep)
        record("adamw", budget, value + 0.2, lr=1e-2, sweep=sweep)  # a worse lr at each budget: the curve skips it
    for seed, value in ((1, 3.4), (2, 3.2)):  # the suite's pick on more seeds: the curve takes their mean
        record("adamw", 1000, value, seed=seed)
    record("muon", 500, 3.3)  # AdamW's 1000-step loss in 500 steps
    record("lion", 1000, 3.45)  # halfway between AdamW's 500 and 1000 in loss
    record("sgd", 1000, 4.5)  # worse than AdamW's smallest budget
    for seed, value in ((0, 3.02), (1, 3.03), (2, 3.01)):  # close to AdamW's 2x on every seed
        record("soap", 1000, value, seed=seed)
    runs, _ = load_runs(str(tmp_path), task="lm")
    table = speedup_table(runs, sweep="adamw_budgets").set_index("optimizer")
    assert table.loc["muon", "speedup"] == "2.00x"
    assert table.loc["adamw", ["steps", "speedup"]].tolist() == [1000, "1.00x"]  # at its suite budget, not 2000
    assert table.loc["lion", "speedup"] == f"{math.sqrt(500 * 1000) / 1000:.2f}x"
    assert table.loc["sgd", "speedup"] == "<0.25x"
    # AdamW's own seeds (3.3, 3.4, 3.2): each read through its curve, and the t interval of their mean loss
    assert table.loc["adamw", "per seed"] == f"1.00x, {500 * 2 ** (2 / 3) / 1000:.2f}x, {2 ** (1 / 3):.2f}x"
    half = 4.302653 * 0.1 / math.sqrt(3)
    low, high = 500 * 2 ** ((3.6 - 3.3 - half) / 0.3) / 1000, 2 ** ((3.3 - (3.3 - half)) / 0.3)
    assert table.loc["adamw", "95% interval"] == f"[{low:.2f}x, {high:.2f}x]"
    assert table.loc["adamw", "interval vs 1.0x"] == "includes 1.0x"
    assert table.loc["soap", "interval vs 1.0x"] == "above 1.0x"
    assert table.loc["muon", ["95% interval", "interval vs 1.0x"]].tolist() == ["- (n=1)", "untested (n=1)"]
    assert table.attrs["curve"] == {250: 4.0, 500: 3.6, 1000: pytest.approx(3.3), 2000: 3.0}  # each budget's pick
    assert speedup_table(runs[runs["planned_steps"] == 1000]) is None  # AdamW at one budget only
    ranked, _ = ranked_runs(str(tmp_path), "lm", "adamw_budgets")  # what the scores and tuning tables rank
    assert set(ranked["planned_steps"][ranked["label"] == "adamw"]) == {1000}


def test_the_report_takes_the_configuration_the_sweep_picked_by_validation_never_by_test(tmp_path):
    """A tuning sweep ranked by the validation loss (tune_metric) and reran its pick on 3 seeds; the lr that has
    the better test accuracy on seed 0 but the worse validation loss must not be the one reported."""
    from optbench.report.workloads import gather

    store = tmp_path / "s"
    for seed in (0, 1, 2):  # the pick: validation loss 0.30, test accuracy 0.95
        fake_run(
            store, "T", "a", seed, 0.95, 10.0, True, 0.9, lr=1e-3, final_eval_loss=0.30, tune_metric="final_eval_loss"
        )
    # a grid point: better on test (0.97), worse on validation (0.35)
    fake_run(store, "T", "a", 0, 0.97, 10.0, True, 0.9, lr=3e-3, final_eval_loss=0.35, tune_metric="final_eval_loss")
    rows, higher = gather({"T": str(store)})["T"]
    assert higher and set(rows["lr"]) == {1e-3} and len(rows) == 3 and set(rows["final"]) == {0.95}
    from optbench.report.data import load_runs
    from optbench.report.workloads import tuning_table

    table = tuning_table(load_runs(store, task="T")[0])  # the tuning budget: both lrs on seed 0, the pick marked
    assert table[["lr", "final_eval_loss (seed 0)", "picked"]].values.tolist() == [
        [1e-3, "0.3", "yes"],
        [3e-3, "0.35", ""],
    ]


def test_a_task_without_runs_yet_is_left_out_and_said_so(tmp_path, capsys):
    from optbench.errors import OptbenchError
    from optbench.report.workloads import gather

    for seed in (0, 1):
        fake_run(tmp_path / "s", "T1", "a", seed, 0.9, 5.0, True, 0.9)
    results = gather({"T1": str(tmp_path / "s"), "T2": str(tmp_path / "s")})
    assert list(results) == ["T1"] and "holds no runs of task T2 yet" in capsys.readouterr().err
    with pytest.raises(OptbenchError, match="no runs to score"):
        gather({"T2": str(tmp_path / "s")})
