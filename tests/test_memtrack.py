"""Peak memory by category (optbench/memtrack.py, over PyTorch's MemTracker) against exact byte counts."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from optbench.memory import gradient_bytes, measured_state_bytes, parameter_bytes
from optbench.memtrack import CATEGORIES, measure_step


def mlp_step(optimizer_cls, **kwargs):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(256, 512), nn.ReLU(), nn.Linear(512, 10))
    opt = optimizer_cls(model.parameters(), **kwargs)
    x, y = torch.randn(64, 256), torch.randint(0, 10, (64,))

    def step():
        opt.zero_grad(set_to_none=True)
        nn.functional.cross_entropy(model(x), y).backward()
        opt.step()

    step()  # state exists before the measured step, as at the runner's second step
    return model, opt, step


def test_resident_memory_is_exactly_params_grads_and_state():
    model, opt, step = mlp_step(torch.optim.Adam, foreach=True)
    m = measure_step(step, model, opt, torch.device("cpu"))
    params = list(model.parameters())
    assert m.resident["params"] == parameter_bytes(params) == m.at_peak["params"]
    assert m.resident["grads"] == gradient_bytes(params)
    assert m.resident["state"] == measured_state_bytes(opt)
    assert m.peak == sum(m.at_peak[c] for c in CATEGORIES)


def test_foreach_adam_allocates_one_parameter_sized_temporary_and_fused_none():
    model, opt, step = mlp_step(torch.optim.Adam, foreach=True)
    foreach = measure_step(step, model, opt, torch.device("cpu"))
    nbytes = parameter_bytes(model.parameters())
    assert foreach.step_transient == nbytes  # torch's foreach Adam: one list of parameter-sized temporaries
    assert foreach.at_peak["step_temporaries"] == nbytes  # and the step is where this model peaks
    model, opt, step = mlp_step(torch.optim.Adam, fused=True)
    assert measure_step(step, model, opt, torch.device("cpu")).step_transient == 0


def test_sgd_without_momentum_has_no_state_and_the_peak_holds_the_forward_activations():
    model, opt, step = mlp_step(torch.optim.SGD, lr=0.1)
    m = measure_step(step, model, opt, torch.device("cpu"))
    assert m.resident["state"] == 0 and m.at_peak["state"] == 0
    assert m.at_peak["activations"] + m.at_peak["temporaries"] > 0


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_on_cuda_the_tracked_peak_matches_max_memory_allocated():
    device = torch.device("cuda")
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(1024, 4096), nn.ReLU(), nn.Linear(4096, 1024)).to(device)
    opt = torch.optim.Adam(model.parameters(), foreach=True)
    x = torch.randn(512, 1024, device=device)

    def step():
        opt.zero_grad(set_to_none=True)
        model(x).square().mean().backward()
        opt.step()

    step()
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    base = torch.cuda.memory_allocated()
    m = measure_step(step, model, opt, device)
    torch.cuda.synchronize()
    tracked_outside = base - (m.resident["params"] + m.resident["grads"] + m.resident["state"])
    assert m.peak == pytest.approx(torch.cuda.max_memory_allocated() - tracked_outside, rel=0.05)


def test_every_run_records_its_peak_by_category_from_steps_two_and_three(make_config, idx_dir):
    from optbench.runner import run

    small = (f"task.data_dir={idx_dir}", "task.hidden=[16]", "task.batch_size=16")
    s = run(make_config(*small, "optimizer=adam"))
    assert s["status"] == "finished" and s["memory_probe_s"] > 0
    assert s["mem_params_bytes"] == s["param_bytes"] and s["mem_state_bytes"] == s["state_bytes"] > 0
    assert s["mem_peak_bytes"] == sum(s[f"mem_{c}_bytes"] for c in CATEGORIES)
    assert s["mem_peak_bytes"] >= s["param_bytes"] + s["state_bytes"]
    off = run(make_config(*small, "memory_probe_steps=[]", "force=true"))
    assert "mem_peak_bytes" not in off and off["memory_probe_s"] == 0
    assert off["run_id"] == s["run_id"]  # the probe measures, it does not change what trains
