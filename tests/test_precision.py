"""Training precision: fp32, bf16-mixed (autocast, fp32 weights and state), bf16 (weights, grads, state in bf16)."""

from __future__ import annotations

import pytest
import torch

from optbench.errors import OptbenchError
from optbench.optim import build_optimizer
from optbench.optim.factory import load_optimizer_config
from optbench.precision import PRECISIONS, resolve_precision
from optbench.runner import run


def step_once(name: str, optimizer: str = "adam"):
    precision = resolve_precision(name)
    torch.manual_seed(0)
    model = precision.prepare_model(torch.nn.Linear(8, 4))
    opt = build_optimizer(load_optimizer_config(optimizer), model.parameters())
    with precision.autocast(torch.device("cpu")):
        out = model(torch.randn(3, 8))
        loss = out.float().square().mean()
    loss.backward()
    opt.step()
    return model, opt, out


def test_mixed_precision_computes_in_bf16_and_keeps_fp32_weights_and_state():
    model, opt, out = step_once("bf16-mixed")
    assert out.dtype == torch.bfloat16
    assert model.weight.dtype == torch.float32 and model.weight.grad.dtype == torch.float32
    assert opt.state[model.weight]["exp_avg"].dtype == torch.float32


@pytest.mark.parametrize("optimizer", ["adam", "adafactor", "adax", "sgd"])
def test_pure_bf16_keeps_weights_gradients_and_state_in_bf16(optimizer):
    model, opt, _ = step_once("bf16", optimizer)
    assert model.weight.dtype == torch.bfloat16 and model.weight.grad.dtype == torch.bfloat16
    for state in opt.state.values():
        for key, value in state.items():
            if torch.is_tensor(value) and key != "step":
                assert value.dtype == torch.bfloat16, (optimizer, key)


def test_unknown_precision_names_the_choices():
    with pytest.raises(OptbenchError, match=r"precision='fp16'.*fp32, bf16-mixed, bf16"):
        resolve_precision("fp16")


@pytest.mark.parametrize("name", list(PRECISIONS))
def test_every_precision_trains_and_is_recorded(make_config, idx_dir, name):
    cfg = make_config(
        f"task.data_dir={idx_dir}", "task.hidden=[32]", "task.batch_size=32", f"precision={name}", "optimizer=adam"
    )
    summary = run(cfg)
    assert summary["status"] == "finished" and summary["precision"] == name
    numel = summary["n_params"]
    width = 2 if name == "bf16" else 4
    assert summary["state_bytes"] == summary["state_bytes_analytic"]
    assert summary["state_bytes"] - 4 * 4 == 2 * numel * width  # m and v, plus four step counters
    assert 0 <= summary["final_metric"] <= 1
