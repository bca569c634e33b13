"""Derived variants of any base optimizer: bias correction off, L2 vs decoupled weight decay, gradient
accumulation, Lookahead; checked against their equations, and how they name a run."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from omegaconf import OmegaConf

from optbench.errors import OptbenchError
from optbench.memory import analytic_state_bytes, measured_state_bytes
from optbench.optim import build_optimizer
from optbench.optim.factory import load_optimizer_config, wrap_optimizer
from optbench.tracking.naming import variant_label, variant_slug
from optbench.tracking.store import run_id

from .det_task import config as det_config

F64 = torch.float64


def cfg(name, **overrides):
    c = load_optimizer_config(name)
    for k, v in overrides.items():
        c[k] = v
    return c


def grads_sequence(shape, steps, seed=0):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(shape, generator=g, dtype=F64) for _ in range(steps)]


def run_steps(opt, p, grads):
    for g in grads:
        p.grad = g.clone()
        opt.step()
    return p.detach().clone()


@pytest.mark.parametrize("name", ["adam", "adamw"])
@pytest.mark.parametrize("fused", [True, False])
def test_adam_without_bias_correction_is_berts_update(name, fused):
    lr, (b1, b2), eps, wd = 1e-2, (0.9, 0.999), 1e-8, (0.01 if name == "adamw" else 0.0)
    p0 = torch.randn(5, 3, dtype=F64, generator=torch.Generator().manual_seed(1))
    grads = grads_sequence((5, 3), 4)
    p = p0.clone().requires_grad_(True)
    opt = build_optimizer(cfg(name, lr=lr, weight_decay=wd, fused=fused, bias_correction=False), [p])
    got = run_steps(opt, p, grads)
    theta, m, v = p0.clone(), torch.zeros_like(p0), torch.zeros_like(p0)
    for g in grads:  # m_t, v_t uncorrected: theta -= lr m / (sqrt(v) + eps)
        theta = theta * (1 - lr * wd)
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        theta = theta - lr * m / (v.sqrt() + eps)
    torch.testing.assert_close(got, theta, rtol=1e-12, atol=1e-12)
    corrected = run_steps(
        build_optimizer(cfg(name, lr=lr, weight_decay=wd, fused=fused), [p0.clone()]), p0.clone(), grads
    )
    assert (corrected - got).abs().max() > 1e-3  # the switch matters: step 1 is 3.2x larger without it


@pytest.mark.parametrize("path", [{"fused": True}, {"fused": False}, {"fused": False, "foreach": False}])
def test_adax_without_its_correction_divides_by_v_t_itself(path):
    lr, b1, b2, eps = 1e-2, 0.9, 1e-4, 1e-8
    p0 = torch.randn(4, 4, dtype=F64, generator=torch.Generator().manual_seed(2))
    grads = grads_sequence((4, 4), 5)
    p = p0.clone().requires_grad_(True)
    c = cfg("adax", lr=lr, bias_correction=False, **{k: v for k, v in path.items() if k == "fused"})
    opt = build_optimizer(c, [p])
    for group in opt.param_groups:
        group.update({k: v for k, v in path.items() if k == "foreach"})
    got = run_steps(opt, p, grads)
    theta, m, v = p0.clone(), torch.zeros_like(p0), torch.zeros_like(p0)
    for g in grads:  # AdaX with v_t = (1 + b2) v_{t-1} + b2 g^2 unnormalised
        m = b1 * m + (1 - b1) * g
        v = (1 + b2) * v + b2 * g * g
        theta = theta - lr * m / (v.sqrt() + eps)
    torch.testing.assert_close(got, theta, rtol=1e-9, atol=1e-12)


def test_adam_with_decoupled_decay_is_torch_adamw_and_adamw_with_l2_is_torch_adam():
    p0 = torch.randn(6, 2, dtype=F64, generator=torch.Generator().manual_seed(3))
    grads = grads_sequence((6, 2), 5)
    for ours_name, mode, reference in (("adam", "decoupled", torch.optim.AdamW), ("adamw", "l2", torch.optim.Adam)):
        p = p0.clone().requires_grad_(True)
        ours = run_steps(build_optimizer(cfg(ours_name, weight_decay=0.1, weight_decay_mode=mode), [p]), p, grads)
        p = p0.clone().requires_grad_(True)
        ref = run_steps(reference([p], lr=load_optimizer_config(ours_name).lr, weight_decay=0.1), p, grads)
        torch.testing.assert_close(ours, ref, rtol=1e-12, atol=1e-14)


def _final(name, mode, p0, grads, **kw):
    p = p0.clone().requires_grad_(True)
    return run_steps(build_optimizer(cfg(name, weight_decay=0.1, weight_decay_mode=mode, **kw), [p]), p, grads)


@pytest.mark.parametrize("name", ["adam", "adamw", "adax", "adafactor"])
def test_l2_and_decoupled_decay_differ_for_adaptive_methods(name):
    # the AdamW paper's point: L2's wd * theta is divided by sqrt(v) with the gradient, decoupled decay is not
    p0 = torch.randn(6, 4, dtype=F64, generator=torch.Generator().manual_seed(4))
    grads = grads_sequence((6, 4), 5)
    kw = {"lr": 1e-2} if name != "adafactor" else {}
    l2, decoupled = _final(name, "l2", p0, grads, **kw), _final(name, "decoupled", p0, grads, **kw)
    assert (l2 - decoupled).abs().max() > 1e-4


def test_l2_and_decoupled_decay_coincide_for_sgd():
    p0 = torch.randn(6, 4, dtype=F64, generator=torch.Generator().manual_seed(5))
    grads = grads_sequence((6, 4), 5)
    torch.testing.assert_close(
        _final("sgd", "l2", p0, grads), _final("sgd", "decoupled", p0, grads), rtol=1e-13, atol=1e-15
    )


@pytest.mark.parametrize(
    ("name", "key", "value", "message"),
    [
        ("sgd", "bias_correction", False, "only Adam, AdamW"),
        ("adam", "bias_correction", "no", "true or false"),
        ("adam", "weight_decay_mode", "both", "decoupled or l2"),
        ("sm3", "weight_decay_mode", "l2", "does not declare what its own weight_decay does"),
    ],
)
def test_a_switch_an_optimizer_cannot_honour_is_refused(name, key, value, message):
    with pytest.raises(OptbenchError, match=rf"optimizer.{key}={value!r}.*{message}"):
        build_optimizer(cfg(name, **{key: value}), [torch.zeros(2, requires_grad=True)])


def lookahead_cfg(**kw):
    c = OmegaConf.load(Path(__file__).parents[1] / "conf" / "wrapper" / "lookahead.yaml")
    c.update(kw)
    return c


def test_lookahead_moves_the_slow_weights_alpha_of_the_way_every_k_steps():
    lr, k, alpha = 0.1, 3, 0.5
    p0 = torch.randn(3, 3, dtype=F64, generator=torch.Generator().manual_seed(6))
    grads = grads_sequence((3, 3), 7)
    p = p0.clone().requires_grad_(True)
    opt = wrap_optimizer(lookahead_cfg(k=k, alpha=alpha), torch.optim.SGD([p], lr=lr))
    got = run_steps(opt, p, grads)
    slow, fast = p0.clone(), p0.clone()
    for t, g in enumerate(grads, 1):  # Zhang et al. 2019, Algorithm 1
        fast = fast - lr * g
        if t % k == 0:
            slow = slow + alpha * (fast - slow)
            fast = slow.clone()
    torch.testing.assert_close(got, fast, rtol=1e-13, atol=1e-15)


def test_lookahead_state_is_counted_on_top_of_the_base_optimizer():
    model = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.Linear(3, 2))
    base = build_optimizer(cfg("adam"), model)
    opt = wrap_optimizer(lookahead_cfg(), base)
    model(torch.randn(2, 4)).sum().backward()
    opt.step()
    n = sum(p.numel() for p in model.parameters())
    assert measured_state_bytes(opt) == analytic_state_bytes(opt) == 3 * n * 4 + 4 * 4  # m, v, slow; 4 step counters


def config_of(name: str, switches=None, **top):
    merged = OmegaConf.merge(load_optimizer_config(name), switches or {})
    return {"task": {"name": "mnist_mlp"}, "optimizer": OmegaConf.to_container(merged), **top}


def test_variants_name_the_run_and_neutral_switches_keep_its_identity():
    plain = config_of("adam")
    assert variant_label(plain) == "adam" and variant_slug(plain) == "adam"
    legacy = {
        **plain,
        "optimizer": {
            k: v for k, v in plain["optimizer"].items() if k not in ("about", "bias_correction", "weight_decay_mode")
        },
    }
    assert run_id(plain) == run_id(legacy) == run_id({**plain, "accumulate": 1, "wrapper": None})
    look = OmegaConf.to_container(lookahead_cfg())
    varied = config_of("adam", {"bias_correction": False, "weight_decay_mode": "decoupled"}, wrapper=look, accumulate=4)
    assert (
        variant_label(varied)
        == "adam, no bias correction, decoupled weight decay, lookahead (k=5, alpha=0.5), accumulate 4"
    )
    assert run_id(varied).startswith("mnist_mlp-adam.nobc.decoupled.lookahead-k5-alpha0.5.acc4-")
    assert run_id(varied) != run_id(plain)


def test_accumulating_k_micro_batches_is_one_step_on_the_k_times_larger_batch(make_config, tmp_path):
    def final_weights(batch_size, k, store):
        c = make_config("task=rosenbrock", "optimizer=adam", f"accumulate={k}", "save_model=true", f"store_dir={store}")
        OmegaConf.set_struct(c, False)
        c.task = det_config(batch_size)
        from optbench import runner

        summary = runner.run(c)
        assert summary["status"] == "finished" and summary["steps"] == 2 * 96 // (batch_size * k)
        assert summary["accumulate"] == k
        return summary, torch.load(Path(summary["record_dir"]) / "model.pt", weights_only=True)

    big, w_big = final_weights(24, 1, tmp_path / "a")
    small, w_small = final_weights(8, 3, tmp_path / "b")
    for key in w_big:
        torch.testing.assert_close(w_small[key], w_big[key], rtol=1e-12, atol=1e-13)
    assert small["label"] == "adam, accumulate 3" and small["planned_steps"] == big["planned_steps"]
