"""One contract for every optimizer in conf/optimizer/ (the folder is the registry; no second list here)."""

from __future__ import annotations

import io

import pytest
import torch

from optbench.errors import OptbenchError
from optbench.memory import analytic_state_bytes, measured_state_bytes
from optbench.optim import available_optimizers, build_optimizer
from optbench.optim.factory import load_optimizer_config

from .conftest import optimizer_names

NAMES = optimizer_names()
QUADRATIC_LR = 0.05  # one step size for every optimizer on this well-conditioned problem


def test_registry_is_the_folder_and_has_the_eight():
    assert NAMES == available_optimizers()
    assert set(NAMES) == {"sgd", "momentum", "adagrad", "rmsprop", "adam", "adamw", "adafactor", "adax"}


def optimizer_cfg(name: str, **overrides):
    cfg = load_optimizer_config(name)
    for k, v in overrides.items():
        cfg[k] = v
    return cfg


def quadratic(seed=0):
    g = torch.Generator().manual_seed(seed)
    a = torch.randn(6, 6, generator=g)
    hessian = a @ a.T / 6 + torch.eye(6)
    target = torch.randn(6, 4, generator=g)
    return lambda w: 0.5 * ((w - target) * (hessian @ (w - target))).sum()


def train(opt, w, f, steps):
    for _ in range(steps):
        opt.zero_grad()
        f(w).backward()
        opt.step()


@pytest.mark.parametrize("name", NAMES)
def test_builds_and_lowers_a_quadratic(name):
    f = quadratic()
    # start away from zero: Adafactor scales its step by max(1e-3, RMS(param))
    w = torch.ones(6, 4, requires_grad=True)
    opt = build_optimizer(optimizer_cfg(name, lr=QUADRATIC_LR), [w])
    start = f(w).item()
    train(opt, w, f, 200)
    assert f(w).item() < 0.5 * start


@pytest.mark.parametrize("name", NAMES)
def test_state_dict_round_trip_continues_identically(name):
    f = quadratic(1)
    w = torch.zeros(6, 4, requires_grad=True)
    opt = build_optimizer(optimizer_cfg(name), [w])
    train(opt, w, f, 5)
    buf = io.BytesIO()
    torch.save({"w": w.detach().clone(), "opt": opt.state_dict()}, buf)
    buf.seek(0)
    saved = torch.load(buf, weights_only=True)
    w2 = saved["w"].clone().requires_grad_(True)
    opt2 = build_optimizer(optimizer_cfg(name), [w2])
    opt2.load_state_dict(saved["opt"])
    train(opt, w, f, 5)
    train(opt2, w2, f, 5)
    torch.testing.assert_close(w2, w, rtol=0, atol=0)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("lr", [-1e-3, 0.0])
def test_rejects_non_positive_lr(name, lr):
    with pytest.raises(OptbenchError, match=rf"optimizer.lr={lr}.*{name}"):
        build_optimizer(optimizer_cfg(name, lr=lr), [torch.zeros(2, requires_grad=True)])


@pytest.mark.parametrize("name", NAMES)
def test_analytic_state_bytes_equal_measured(name):
    model = torch.nn.Sequential(torch.nn.Linear(7, 5), torch.nn.ReLU(), torch.nn.Linear(5, 3))
    opt = build_optimizer(optimizer_cfg(name), model.parameters())
    model(torch.randn(4, 7)).sum().backward()
    opt.step()
    assert measured_state_bytes(opt) == analytic_state_bytes(opt)


@pytest.mark.parametrize(
    ("name", "key", "value"),
    [
        ("adam", "betas", [0.9, 1.0]),
        ("adamw", "betas", [-0.1, 0.9]),
        ("adax", "betas", [0.9, 1.5]),
        ("momentum", "momentum", 1.0),
        ("adafactor", "beta1", 1.2),
    ],
)
def test_rejects_betas_outside_unit_interval(name, key, value):
    with pytest.raises(OptbenchError, match=rf"optimizer.{key}=.*\[0, 1\)"):
        build_optimizer(optimizer_cfg(name, **{key: value}), [torch.zeros(2, requires_grad=True)])


@pytest.mark.parametrize("name", ["adam", "adamw", "adax", "adafactor"])
@pytest.mark.parametrize("value", ["maybe", 1])
def test_rejects_a_fused_switch_that_is_not_auto_or_a_bool(name, value):
    with pytest.raises(OptbenchError, match=rf"optimizer.fused={value!r}.*auto, true, false or null"):
        build_optimizer(optimizer_cfg(name, fused=value), [torch.zeros(2, requires_grad=True)])


def test_fused_auto_picks_torch_kernels_and_leaves_ours_to_choose_per_tensor():
    cpu = [torch.zeros(2, 2, requires_grad=True)]
    meta = [torch.zeros(2, 2, device="meta", requires_grad=True)]
    for name in ("adam", "adamw"):
        assert build_optimizer(optimizer_cfg(name), cpu).defaults["fused"] is True
        assert build_optimizer(optimizer_cfg(name), meta).defaults["fused"] is None  # no kernel on meta
    for name in ("adax", "adafactor"):  # None: our optimizers decide per tensor which kernel runs
        assert build_optimizer(optimizer_cfg(name), cpu).defaults["fused"] is None
        assert build_optimizer(optimizer_cfg(name, fused=False), cpu).defaults["fused"] is False
