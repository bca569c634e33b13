"""AdaX against a plain transcription of Li et al. (2020), including the raw v_t form."""

from __future__ import annotations

import pytest
import torch

from optbench.optim import AdaX
from optbench.optim.adax import adax_weight


def paper_adax(params, grads, lr, betas, eps, weight_decay=0.0):
    """m_t = b1 m + (1-b1) g; v_t = (1+b2) v + b2 g^2; v_hat = v_t / ((1+b2)^t - 1); x -= lr m / (sqrt(v_hat)+eps)."""
    b1, b2 = betas
    x = [p.clone() for p in params]
    m = [torch.zeros_like(p) for p in params]
    v = [torch.zeros_like(p) for p in params]
    for t, step_grads in enumerate(grads, start=1):
        for i, g in enumerate(step_grads):
            m[i] = b1 * m[i] + (1 - b1) * g
            v[i] = (1 + b2) * v[i] + b2 * g * g
            v_hat = v[i] / ((1 + b2) ** t - 1)
            x[i] = x[i] * (1 - lr * weight_decay) - lr * m[i] / (v_hat.sqrt() + eps)
    return x


def run(params, grads, **kwargs):
    params = [p.clone().requires_grad_(True) for p in params]
    opt = AdaX(params, **kwargs)
    for step_grads in grads:
        for p, g in zip(params, step_grads, strict=True):
            p.grad = g.clone()
        opt.step()
    return [p.detach() for p in params], opt


def problem(seed=0, steps=30):
    g = torch.Generator().manual_seed(seed)
    shapes = [(8, 5), (7,), (2, 3, 4)]
    params = [torch.randn(s, generator=g, dtype=torch.float64) for s in shapes]
    grads = [[torch.randn(s, generator=g, dtype=torch.float64) for s in shapes] for _ in range(steps)]
    return params, grads


PATHS = {
    "single-tensor": {"foreach": False, "fused": False},
    "foreach": {"foreach": True, "fused": False},
    "fused": {"fused": True},
}


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize(
    ("betas", "eps", "wd"), [((0.9, 1e-4), 1e-8, 0.0), ((0.5, 0.1), 1e-3, 0.0), ((0.9, 1e-4), 1e-8, 0.05)]
)
def test_matches_paper_equations(path, betas, eps, wd):
    params, grads = problem()
    ours, _ = run(params, grads, lr=1e-2, betas=betas, eps=eps, weight_decay=wd, **PATHS[path])
    ref = paper_adax(params, grads, lr=1e-2, betas=betas, eps=eps, weight_decay=wd)
    for a, e in zip(ours, ref, strict=True):
        torch.testing.assert_close(a, e, rtol=1e-10, atol=1e-12)
    assert all((a - p).abs().max() > 1e-3 for a, p in zip(ours, params, strict=True))


@pytest.mark.parametrize("path", ["foreach", "fused"])
def test_fast_paths_equal_single_tensor_path_float64(path):
    params, grads = problem(seed=3)
    a, _ = run(params, grads, lr=3e-3, weight_decay=0.01, **PATHS["single-tensor"])
    b, _ = run(params, grads, lr=3e-3, weight_decay=0.01, **PATHS[path])
    for x, y in zip(a, b, strict=True):
        torch.testing.assert_close(x, y, rtol=1e-12, atol=0)


def test_default_on_cpu_is_the_fused_kernel(monkeypatch):
    calls = []
    monkeypatch.setattr(torch, "_fused_adamw_", lambda *a, **k: calls.append(k["beta2"]))
    p = torch.zeros(3, requires_grad=True)
    opt = AdaX([p], betas=(0.9, 0.5))
    for _ in range(2):
        p.grad = torch.ones(3)
        opt.step()
    # beta2 of the AdamW kernel is 1 - w_t with w_t = b2 / ((1 + b2)^t - 1): 1 - 1 and 1 - 0.5 / 1.25
    assert calls == [pytest.approx(0.0), pytest.approx(0.6)]


def test_fused_path_hands_over_when_the_weight_vanishes():
    # past ~2.8e5 steps at beta2=1e-4, 1 - w_t == 1 in double precision; the fused path must still match
    p0, g = torch.randn(2, 5, dtype=torch.float64), torch.randn(2, 5, dtype=torch.float64)
    out = {}
    for path in ("single-tensor", "fused"):
        p = p0.clone().requires_grad_()
        opt = AdaX([p], lr=1e-2, **PATHS[path])
        for start in (0, 150_000, 400_000):
            p.grad = g.clone()
            opt.step()  # the first step creates the state; then jump the counter
            opt.state[p]["step"].fill_(start)
            p.grad = g.clone().mul_(1.5)
            opt.step()
        out[path] = p.detach()
    assert 1.0 - adax_weight(400_001, 1e-4) == 1.0 and 1.0 - adax_weight(150_001, 1e-4) < 1.0
    torch.testing.assert_close(out["fused"], out["single-tensor"], rtol=1e-12, atol=0)


def test_first_step_is_sign_like():
    # v_hat_1 = g^2 and m_1 = (1 - b1) g, so the first update is lr (1-b1) sign(g) (eps aside)
    p = torch.zeros(4, dtype=torch.float64, requires_grad=True)
    opt = AdaX([p], lr=1.0, betas=(0.9, 1e-4), eps=1e-300)
    p.grad = torch.tensor([3.0, -0.5, 2.0, -7.0], dtype=torch.float64)
    opt.step()
    torch.testing.assert_close(p.detach(), -0.1 * torch.sign(p.grad))


def test_state_stays_finite_past_float32_overflow_of_raw_v():
    # raw v_t ~ (1 + 1e-4)^t overflows float32 (3.4e38) near t = 886,000; the stored v_hat does not
    assert (1 + 1e-4) ** 1_000_000 > torch.finfo(torch.float32).max
    p = torch.ones(3, requires_grad=True)
    opt = AdaX([p], lr=1e-3)
    p.grad = torch.ones(3)
    opt.step()
    opt.state[p]["step"].fill_(2_000_000)
    opt.step()
    assert torch.isfinite(p).all() and torch.isfinite(opt.state[p]["exp_avg_sq"]).all()
    assert adax_weight(10_000_000, 1e-4) == 0.0
    assert adax_weight(1, 1e-4) == pytest.approx(1.0)


def test_loads_a_state_dict_saved_without_the_fused_switch():
    p = torch.ones(3, requires_grad=True)
    opt = AdaX([p], lr=1e-2)
    p.grad = torch.ones(3)
    opt.step()
    saved = opt.state_dict()
    del saved["param_groups"][0]["fused"]
    restored = AdaX([p], lr=1e-2)
    restored.load_state_dict(saved)
    p.grad = torch.ones(3)
    restored.step()
    assert restored.param_groups[0]["fused"] is None and restored.state[p]["step"].item() == 2


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"lr": -1e-3}, "learning rate"),
        ({"betas": (1.0, 1e-4)}, "betas"),
        ({"betas": (0.9, -0.1)}, "betas"),
        ({"eps": -1.0}, "eps"),
        ({"fused": "yes"}, "fused"),
    ],
)
def test_rejects_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        AdaX([torch.zeros(2, requires_grad=True)], **kwargs)


def strided_param() -> tuple[torch.Tensor, torch.nn.Parameter]:
    """A parameter that is a strided view (every other column) of a larger buffer."""
    buf = torch.zeros(6, 10)
    return buf, torch.nn.Parameter(buf[:, ::2])


@pytest.mark.parametrize("layout", ["strided", "transposed"])
def test_default_path_updates_non_contiguous_parameters_correctly_and_only_them(layout):
    torch.manual_seed(0)
    if layout == "strided":
        buf, p = strided_param()
    else:
        buf = torch.zeros(5, 6)
        p = torch.nn.Parameter(buf.t())
    ref = torch.nn.Parameter(p.detach().clone())
    opt, ref_opt = AdaX([p], lr=0.1, weight_decay=0.01), AdaX([ref], lr=0.1, weight_decay=0.01, foreach=False)
    for _ in range(3):
        g = torch.randn(p.shape)
        p.grad, ref.grad = g.clone(), g.clone()
        opt.step()
        ref_opt.step()
    torch.testing.assert_close(p.detach(), ref.detach())
    if layout == "strided":
        assert buf[:, 1::2].abs().sum() == 0  # the columns between the parameter's were not written


def test_default_step_compiles_and_matches_the_reference():
    torch.manual_seed(0)
    model, ref = torch.nn.Linear(8, 4), torch.nn.Linear(8, 4)
    ref.load_state_dict(model.state_dict())
    opt, ref_opt = AdaX(model.parameters(), lr=0.01), AdaX(ref.parameters(), lr=0.01, foreach=False)
    compiled = torch.compile(opt.step, backend="aot_eager")  # aot_eager used to hit a functionalization assert
    for _ in range(2):
        x = torch.randn(3, 8)
        for m in (model, ref):
            m.zero_grad()
            m(x).square().sum().backward()
        compiled()
        ref_opt.step()
    for a, b in zip(model.parameters(), ref.parameters(), strict=True):
        torch.testing.assert_close(a, b)


def test_eps_zero_is_rejected():
    with pytest.raises(ValueError, match="eps"):
        AdaX([torch.nn.Parameter(torch.zeros(2))], eps=0.0)
