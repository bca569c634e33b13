"""Adafactor against torch.optim.Adafactor where the configurations coincide, and against the paper elsewhere."""

from __future__ import annotations

import itertools
import math

import pytest
import torch

from optbench.optim import Adafactor, _native
from optbench.optim import adafactor as adafactor_module
from optbench.optim.adafactor import _step_size

SHAPES = [(12, 7), (9,), (3, 5, 4)]  # matrix, vector, rank-3 (factored over the last two dims)


def make_problem(seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    params = [torch.randn(s, generator=g, dtype=torch.float64) for s in SHAPES]
    grads = [[torch.randn(s, generator=g, dtype=torch.float64) for s in SHAPES] for _ in range(25)]
    return params, grads


def run_optimizer(opt_cls, params, grads, **kwargs):
    params = [p.clone().requires_grad_(True) for p in params]
    opt = opt_cls(params, **kwargs)
    for step_grads in grads:
        for p, g in zip(params, step_grads, strict=True):
            p.grad = g.clone()
        opt.step()
    return [p.detach() for p in params]


# The three implementations: the per-tensor reference loop, the stock-PyTorch fast path, and the C++ CPU kernels.
PATHS = {
    "reference": dict(foreach=False),
    "foreach": dict(foreach=True, fused=False),
    "kernel": dict(fused=True),
}


@pytest.fixture(params=list(PATHS))
def path(request) -> dict:
    if request.param == "kernel" and _native.adafactor_kernels() is None:
        pytest.skip("the C++ kernel cannot be built on this machine (no compiler); see the log")
    return PATHS[request.param]


def assert_close_rel(actual, expected, rtol=1e-6):
    for a, e in zip(actual, expected, strict=True):
        err = ((a - e).norm() / e.norm()).item()
        assert err < rtol, f"relative error {err:.3g}"


@pytest.mark.parametrize("lr", [1e-2, 3e-3])
def test_matches_torch_adafactor_in_paper_configuration(path, lr):
    params, grads = make_problem()
    ours = run_optimizer(
        Adafactor,
        params,
        grads,
        lr=lr,
        relative_step=True,
        scale_parameter=True,
        beta1=None,
        clip_threshold=1.0,
        factored=True,
        weight_decay=0.0,
        **path,
    )
    ref = run_optimizer(torch.optim.Adafactor, params, grads, lr=lr, beta2_decay=-0.8, d=1.0, eps=(1e-30, 1e-3))
    assert_close_rel(ours, ref)
    # and the parameters really moved: the comparison is not between two no-ops
    assert all((o - p).norm() > 1e-3 for o, p in zip(ours, params, strict=True))


def paper_adafactor(
    params,
    grads,
    *,
    lr,
    relative_step,
    scale_parameter,
    warmup_init,
    beta1,
    beta2,
    decay_rate,
    clip_threshold,
    eps,
    factored,
    weight_decay,
    rho_decay_start=None,
):
    """Algorithms 4/5 of Shazeer & Stern (2018), written with the paper's row/column *sums*."""
    eps1, eps2 = eps
    X = [p.clone() for p in params]
    R, C, V, M = {}, {}, {}, {}
    for t, step_grads in enumerate(grads, start=1):
        for i, G in enumerate(step_grads):
            if relative_step and rho_decay_start is not None:  # the same shape on a time scale of T steps
                T = rho_decay_start
                rho = lr * min(t / T if warmup_init else 1.0, math.sqrt(T / t))
            elif relative_step:
                rho = min(1e-6 * t if warmup_init else lr, 1 / math.sqrt(t))
            else:
                rho = lr
            rms_x = math.sqrt((X[i] ** 2).mean().item())
            alpha = max(eps2, rms_x) * rho if scale_parameter else rho
            if beta2 is None:
                b2 = 1 - t**decay_rate
            else:
                b2 = beta2 * (1 - beta2 ** (t - 1)) / (1 - beta2**t)
            G2 = G**2 + eps1
            if factored and G.dim() >= 2:
                R[i] = b2 * R.get(i, 0) + (1 - b2) * G2.sum(dim=-1, keepdim=True)  # row sums (G^2) 1_m
                C[i] = b2 * C.get(i, 0) + (1 - b2) * G2.sum(dim=-2, keepdim=True)  # column sums 1_n^T (G^2)
                Vhat = R[i] * C[i] / R[i].sum(dim=-2, keepdim=True)  # R C / (1_n^T R)
            else:
                V[i] = b2 * V.get(i, 0) + (1 - b2) * G2
                Vhat = V[i]
            U = G / Vhat.sqrt()
            if clip_threshold is not None:
                U = U / max(1.0, math.sqrt((U**2).mean().item()) / clip_threshold)
            step = alpha * U
            if beta1 is not None:
                M[i] = beta1 * M.get(i, 0) + (1 - beta1) * step
                step = M[i]
            X[i] = X[i] * (1 - alpha * weight_decay) - step
    return X


PAPER_DEFAULTS = dict(
    lr=1e-2,
    relative_step=True,
    scale_parameter=True,
    warmup_init=False,
    beta1=None,
    beta2=None,
    decay_rate=-0.8,
    clip_threshold=1.0,
    eps=(1e-30, 1e-3),
    factored=True,
    weight_decay=0.0,
)

SWITCHES = [
    {},
    {"beta1": 0.9},
    {"clip_threshold": None},
    {"clip_threshold": 2.0, "factored": False},
    {"relative_step": False, "lr": 3e-2},
    {"relative_step": False, "scale_parameter": False, "lr": 1e-3},
    {"warmup_init": True},
    {"rho_decay_start": 2},
    {"rho_decay_start": 3, "warmup_init": True, "lr": 0.1},
    {"beta2": 0.999},
    {
        "beta2": 0.9,
        "factored": False,
        "clip_threshold": None,
        "relative_step": False,
        "scale_parameter": False,
        "lr": 1e-3,
    },
    {"decay_rate": -0.5},
    {"weight_decay": 0.1, "beta1": 0.5},
]


@pytest.mark.parametrize("switches", SWITCHES, ids=lambda s: ",".join(f"{k}={v}" for k, v in s.items()) or "paper")
def test_matches_paper_equations(switches, path):
    params, grads = make_problem(seed=1)
    kwargs = {**PAPER_DEFAULTS, **switches}
    ours = run_optimizer(Adafactor, params, grads, **path, **kwargs)
    ref = paper_adafactor(params, grads, **kwargs)
    assert_close_rel(ours, ref, rtol=1e-10)


def test_fast_paths_equal_single_tensor_path_float64(path):
    params, grads = make_problem(seed=2)
    for switches in SWITCHES:
        kwargs = {**PAPER_DEFAULTS, **switches}
        a = run_optimizer(Adafactor, params, grads, foreach=False, **kwargs)
        b = run_optimizer(Adafactor, params, grads, **path, **kwargs)
        assert_close_rel(a, b, rtol=1e-12)


@pytest.mark.parametrize("block_numel", [8, 30, 1 << 20], ids=["tiny-blocks", "blocks-of-rows", "one-block"])
def test_fast_path_blocking_does_not_change_the_update(monkeypatch, block_numel):
    # small blocks force the two-pass row-block path (8: blocks of 1 row of the 12x7 matrix and of 2 rows of the
    # rank-3 tensor's 5x4 slices; 30: blocks of 4 rows, and one block per slice); the largest takes each tensor whole
    monkeypatch.setitem(adafactor_module.BLOCK_NUMEL, "cpu", block_numel)
    params, grads = make_problem(seed=4)
    for switches in SWITCHES:
        kwargs = {**PAPER_DEFAULTS, **switches}
        ours = run_optimizer(Adafactor, params, grads, foreach=True, fused=False, **kwargs)
        ref = paper_adafactor(params, grads, **kwargs)
        assert_close_rel(ours, ref, rtol=1e-10)


@pytest.mark.parametrize("fused", [False, None], ids=["foreach", "default"])
def test_non_contiguous_parameters_are_updated_in_place(fused):
    base = torch.randn(7, 12, dtype=torch.float64)
    grads = [torch.randn(12, 7, dtype=torch.float64) for _ in range(5)]
    out = {}
    for kwargs in (dict(foreach=False), dict(foreach=True, fused=fused)):
        p = base.clone().t().requires_grad_()  # a transposed (column-major) matrix parameter
        opt = Adafactor([p], beta1=0.9, **kwargs)
        for g in grads:
            p.grad = g.clone()
            opt.step()
        assert not p.is_contiguous()
        out[kwargs["foreach"]] = p.detach()
    torch.testing.assert_close(out[True], out[False], rtol=1e-12, atol=0)
    assert (out[True] - base.t()).abs().max() > 1e-3


def test_kernel_in_float32_matches_the_reference_path(path):
    g = torch.Generator().manual_seed(5)
    shapes = [(64, 48), (2, 30, 20), (40,)]
    params = [torch.randn(s, generator=g) for s in shapes]
    grads = [[torch.randn(s, generator=g) for s in shapes] for _ in range(10)]
    for switches in ({}, {"beta1": 0.9, "weight_decay": 0.1}):
        kwargs = {**PAPER_DEFAULTS, **switches}
        ref = run_optimizer(Adafactor, params, grads, foreach=False, **kwargs)
        ours = run_optimizer(Adafactor, params, grads, **path, **kwargs)
        assert_close_rel(ours, ref, rtol=1e-5)


def test_kernel_on_tensors_split_between_threads_matches_the_reference():
    # tall enough that the kernel splits the rows between threads (chunks not a multiple of its 32-row sum blocks),
    # a batch whose matrix boundaries fall inside a thread's chunk, and a vector long enough to be split too
    if _native.adafactor_kernels() is None:
        pytest.skip("the C++ kernel cannot be built on this machine (no compiler); see the log")
    g = torch.Generator().manual_seed(7)
    shapes = [(701, 64), (3, 301, 64), (40_001,)]
    params = [torch.randn(s, generator=g, dtype=torch.float64) for s in shapes]
    grads = [[torch.randn(s, generator=g, dtype=torch.float64) for s in shapes] for _ in range(3)]
    for switches in ({}, {"beta1": 0.9, "weight_decay": 0.1, "clip_threshold": 0.5}):
        kwargs = {**PAPER_DEFAULTS, **switches}
        ref = run_optimizer(Adafactor, params, grads, foreach=False, **kwargs)
        ours = run_optimizer(Adafactor, params, grads, fused=True, **kwargs)
        assert_close_rel(ours, ref, rtol=1e-12)


class RecordingKernels:
    """Stands in for the C++ kernels: records which op is given which shapes, and leaves the tensors unchanged."""

    def __init__(self):
        self.calls = []

    def adafactor_factored_(self, params, *args):
        self.calls.append(("factored", [tuple(p.shape) for p in params]))

    def adafactor_unfactored_(self, params, *args):
        self.calls.append(("unfactored", [tuple(p.shape) for p in params]))


def test_default_sends_cpu_float_tensors_to_the_kernels(monkeypatch):
    kernels = RecordingKernels()
    monkeypatch.setattr(_native, "adafactor_kernels", lambda: kernels)
    m, v = torch.zeros(6, 10, requires_grad=True), torch.zeros(10, requires_grad=True)
    h = torch.zeros(6, 10, dtype=torch.bfloat16, requires_grad=True)  # a dtype the kernels do not take
    opt = Adafactor([m, v, h])
    m.grad, v.grad, h.grad = torch.ones_like(m), torch.ones_like(v), torch.ones_like(h)
    opt.step()
    assert kernels.calls == [("factored", [(6, 10)]), ("unfactored", [(10,)])]
    assert (m == 0).all() and (v == 0).all()  # left to the (recording) kernels
    assert (h != 0).all()  # the foreach path updated the other


def test_fused_false_never_builds_the_kernel(monkeypatch):
    def refuse():
        raise AssertionError("the kernel was requested")

    monkeypatch.setattr(_native, "adafactor_kernels", refuse)
    p = torch.zeros(6, 10, requires_grad=True)
    p.grad = torch.ones_like(p)
    Adafactor([p], fused=False).step()
    Adafactor([p], foreach=False).step()
    assert (p != 0).all()


def test_without_the_kernel_the_default_falls_back_and_fused_true_says_why(monkeypatch):
    monkeypatch.setattr(_native, "adafactor_kernels", lambda: None)
    params, grads = make_problem(seed=6)
    ref = run_optimizer(Adafactor, params, grads, foreach=False)
    assert_close_rel(run_optimizer(Adafactor, params, grads), ref, rtol=1e-12)
    with pytest.raises(RuntimeError, match="could not be built"):
        run_optimizer(Adafactor, params, grads, fused=True)


def test_fused_true_rejects_tensors_the_kernel_does_not_take(monkeypatch):
    monkeypatch.setattr(_native, "adafactor_kernels", lambda: RecordingKernels())
    p = torch.zeros(6, 10, dtype=torch.bfloat16, requires_grad=True)
    p.grad = torch.ones_like(p)
    with pytest.raises(RuntimeError, match=r"float32/float64 CPU tensors.*\(6, 10\) torch.bfloat16"):
        Adafactor([p], fused=True).step()


def test_a_failed_build_is_logged_once_and_returns_none(monkeypatch, caplog, tmp_path):
    from torch.utils import cpp_extension

    monkeypatch.setenv("TORCH_EXTENSIONS_DIR", str(tmp_path))  # no earlier build to load

    def fail(**kwargs):
        raise RuntimeError(
            "Error building extension 'x': [1/2] c++ -c adafactor_cpu.cpp\nFAILED: adafactor_cpu.o\n"
            "c++ -c adafactor_cpu.cpp\n/bin/sh: 1: c++: not found\nninja: build stopped: subcommand failed."
        )

    monkeypatch.setattr(cpp_extension, "load", fail)
    _native.adafactor_kernels.cache_clear()
    try:
        with caplog.at_level("WARNING", logger=_native.__name__):
            assert _native.adafactor_kernels() is None
            assert _native.adafactor_kernels() is None
    finally:
        _native.adafactor_kernels.cache_clear()
    warnings = [r for r in caplog.records if r.levelname == "WARNING"]
    assert len(warnings) == 1 and "RuntimeError: /bin/sh: 1: c++: not found" in warnings[0].getMessage()


def test_state_saved_without_the_fused_switch_loads():
    p = torch.ones(4, 3, requires_grad=True)
    opt = Adafactor([p])
    p.grad = torch.ones_like(p)
    opt.step()
    saved = opt.state_dict()
    del saved["param_groups"][0]["fused"]
    fresh = Adafactor([p])
    fresh.load_state_dict(saved)
    assert fresh.param_groups[0]["fused"] is None
    p.grad = torch.ones_like(p)
    fresh.step()
    assert fresh.state[p]["step"].item() == 2


def test_factored_state_is_rows_plus_cols():
    p = torch.zeros(6, 10, requires_grad=True)
    v = torch.zeros(10, requires_grad=True)
    opt = Adafactor([p, v])
    p.grad, v.grad = torch.ones_like(p), torch.ones_like(v)
    opt.step()
    assert opt.state[p]["row_var"].shape == (6,) and opt.state[p]["col_var"].shape == (10,)
    assert "variance" not in opt.state[p] and opt.state[v]["variance"].shape == (10,)
    assert "exp_avg" not in opt.state[p]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"lr": -1.0}, "learning rate"),
        ({"lr": 0.0}, "learning rate"),
        ({"beta1": 1.0}, "beta1"),
        ({"decay_rate": 0.5}, "decay_rate"),
        ({"clip_threshold": 0.0}, "clip_threshold"),
        ({"eps": (1e-30,)}, "eps"),
        ({"warmup_init": True, "relative_step": False}, "warmup_init"),
        ({"rho_decay_start": 0}, "rho_decay_start"),
        ({"rho_decay_start": 1.5}, "rho_decay_start"),
        ({"fused": "yes"}, "fused"),
        ({"fused": True, "foreach": False}, "two different implementations"),
    ],
)
def test_rejects_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        Adafactor([torch.zeros(2, requires_grad=True)], **kwargs)


@pytest.mark.parametrize("warmup_init", [False, True])
def test_rho_decay_start_of_ten_thousand_steps_is_the_papers_relative_step(warmup_init):
    """At lr 1e-2 the paper's min(1e-2 or 1e-6 t, 1/sqrt(t)) turns at t = 10^4; a shorter T compresses that shape."""
    for t in (1, 2, 37, 9_999, 10_000, 10_001, 250_000):
        paper = min(1e-6 * t if warmup_init else 1e-2, 1 / math.sqrt(t))
        assert _step_size(1e-2, t, True, warmup_init, 10_000) == pytest.approx(paper, rel=1e-12)
    assert _step_size(2e-3, 150, True, warmup_init, 150) == pytest.approx(2e-3)  # the peak, at T
    assert _step_size(2e-3, 600, True, warmup_init, 150) == pytest.approx(1e-3)  # then lr sqrt(T/t)
    assert _step_size(2e-3, 75, True, True, 150) == pytest.approx(1e-3)  # a linear ramp before T


def test_relative_step_marks_itself_self_scheduled():
    p = [torch.zeros(2, requires_grad=True)]
    assert Adafactor(p).supplies_step_size
    assert not Adafactor(p, relative_step=False, lr=1e-3).supplies_step_size


def test_params_joining_late_keep_their_own_step_count():
    a, b = torch.ones(3, 4, requires_grad=True), torch.ones(5, requires_grad=True)
    opt = Adafactor([a, b], foreach=True)
    ref = Adafactor(
        [a_ref := a.detach().clone().requires_grad_(), b_ref := b.detach().clone().requires_grad_()],
        foreach=False,
    )
    for t, (pa, pb, o) in itertools.product(
        range(3),
        [(a, b, opt), (a_ref, b_ref, ref)],
    ):
        pa.grad = torch.full_like(pa, 0.1 * (t + 1))
        pb.grad = torch.full_like(pb, 0.2) if t > 0 else None  # b has no gradient on the first step
        o.step()
    assert opt.state[a]["step"].item() == 3 and opt.state[b]["step"].item() == 2
    torch.testing.assert_close(a, a_ref)
    torch.testing.assert_close(b, b_ref)


@pytest.mark.parametrize("fused", [False, None])
def test_empty_parameters_are_left_alone(fused):
    params = [
        torch.nn.Parameter(torch.zeros(0, 3)),
        torch.nn.Parameter(torch.zeros(0)),
        torch.nn.Parameter(torch.ones(2, 3)),
    ]
    for p in params:
        p.grad = torch.ones_like(p)
    opt = Adafactor(params, fused=fused)
    opt.step()
    assert params[2].detach().lt(1).all()  # the real tensor moved
    assert len(opt.state[params[0]]) > 0  # state as for any parameter, so the analytic count still holds


def test_eps1_zero_is_rejected():
    with pytest.raises(ValueError, match="eps1 must be > 0"):
        Adafactor([torch.nn.Parameter(torch.zeros(2))], eps=(0.0, 1e-3))
