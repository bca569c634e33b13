"""Cross-workload scoring on hand-made numbers whose answers are known."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from optbench.report.scoring import (
    bootstrap_ci,
    not_separated_from_best,
    paired_test,
    pairwise_significance,
    performance_profile,
    performance_ratios,
    profile_score,
)

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


def test_bootstrap_interval_of_the_mean():
    mean, low, high = bootstrap_ci([1.0, 2.0, 3.0])
    assert mean == 2.0 and 1.0 <= low < 2.0 < high <= 3.0
    assert bootstrap_ci([5.0, 5.0, 5.0]) == (5.0, 5.0, 5.0) and bootstrap_ci([4.0]) == (4.0, 4.0, 4.0)
    sample = np.random.default_rng(1).normal(10.0, 2.0, size=400)
    mean, low, high = bootstrap_ci(sample)
    half = 1.96 * sample.std(ddof=1) / math.sqrt(sample.size)  # the normal interval for a large sample
    assert (high - low) / 2 == pytest.approx(half, rel=0.08) and low < mean < high
    assert bootstrap_ci([3.0, INF])[2] == INF  # a missed target leaves the interval open above


def test_paired_t_test_against_the_closed_form_for_three_seeds():
    a = {0: 1.0, 1: 2.0, 2: 3.0}
    b = {0: 0.5, 1: 1.4, 2: 2.6}  # differences 0.5, 0.6, 0.4: mean 0.5, sd 0.1
    diff, p, n = paired_test(a, b)
    t = 0.5 / (0.1 / math.sqrt(3))
    p_df2 = 2 * (1 - (0.5 + t / (2 * math.sqrt(2 + t * t))))  # Student's t with 2 degrees of freedom
    assert (diff, n) == (pytest.approx(0.5), 3) and p == pytest.approx(p_df2, rel=1e-6)
    assert math.isnan(paired_test({0: 1.0}, {0: 2.0})[1])  # one seed says nothing about significance
    assert paired_test({0: 1.0, 1: 2.0}, {1: 1.0, 2: 5.0})[2] == 1  # only common seeds pair


def test_differences_within_the_noise_are_marked_not_separated():
    per_seed = {
        "adam": {0: 0.970, 1: 0.972, 2: 0.971},
        "adamw": {0: 0.971, 1: 0.970, 2: 0.972},  # indistinguishable from adam
        "sgd": {0: 0.950, 1: 0.951, 2: 0.949},  # clearly worse
    }
    assert not_separated_from_best(per_seed, higher=True) == {"adam", "adamw"}
    assert not_separated_from_best(per_seed, higher=False) == {"sgd"}  # read as lower-is-better, sgd is best
    p = pairwise_significance(per_seed)
    assert p.loc["adam", "sgd"] < 0.05 < p.loc["adam", "adamw"] and math.isnan(p.loc["adam", "adam"])
