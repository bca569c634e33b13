import math

import pytest
import torch

from optbench.errors import OptbenchError
from optbench.schedules import build_scheduler, schedule_factor


def test_constant_with_and_without_warmup():
    assert [schedule_factor({"name": "constant", "warmup_steps": 0}, 10)(s) for s in (1, 5)] == [1.0, 1.0]
    f = schedule_factor({"name": "constant", "warmup_steps": 4}, 10)
    assert [f(s) for s in (1, 2, 4, 9)] == [0.25, 0.5, 1.0, 1.0]


def test_warmup_rsqrt_peaks_at_warmup_then_decays_as_inverse_sqrt():
    f = schedule_factor({"name": "warmup_rsqrt", "warmup_steps": 100}, 1000)
    assert f(50) == pytest.approx(0.5) and f(100) == pytest.approx(1.0)
    assert f(400) == pytest.approx(math.sqrt(100 / 400))
    g = schedule_factor({"name": "warmup_rsqrt", "warmup_steps": 0, "decay_start": 100}, 1000)
    assert g(1) == 1.0 and g(400) == pytest.approx(0.5)  # no warmup: starts at the peak


def test_cosine_ends_at_min_ratio():
    f = schedule_factor({"name": "cosine", "warmup_steps": 10, "min_ratio": 0.1}, 110)
    assert f(5) == pytest.approx(0.5) and f(10) == pytest.approx(1.0)
    assert f(60) == pytest.approx(0.55) and f(110) == pytest.approx(0.1)


def test_scheduler_applies_factor_to_first_step():
    w = torch.zeros(1, requires_grad=True)
    opt = torch.optim.SGD([w], lr=1.0)
    sched = build_scheduler({"name": "constant", "warmup_steps": 2}, opt, 10)
    assert opt.param_groups[0]["lr"] == 0.5
    opt.step()
    sched.step()
    assert opt.param_groups[0]["lr"] == 1.0


def test_unknown_schedule_and_negative_warmup():
    with pytest.raises(OptbenchError, match="constant, warmup_rsqrt, cosine"):
        schedule_factor({"name": "linear"}, 10)
    with pytest.raises(OptbenchError, match="warmup_steps=-1"):
        schedule_factor({"name": "constant", "warmup_steps": -1}, 10)


def test_constant_without_warmup_needs_no_scheduler():
    w = torch.zeros(1, requires_grad=True)
    opt = torch.optim.SGD([w], lr=0.3)
    assert build_scheduler({"name": "constant", "warmup_steps": 0}, opt, 10) is None
    assert opt.param_groups[0]["lr"] == 0.3
