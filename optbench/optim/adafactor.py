r"""Adafactor (Shazeer & Stern, 2018, "Adafactor: Adaptive Learning Rates with Sublinear Memory Cost").

For a parameter :math:`X` with gradient :math:`G_t` at step :math:`t`:

.. math::
    \rho_t &= \min(\text{lr}, 1/\sqrt{t})  \quad (\text{relative\_step})
             \quad\text{or}\quad \min(10^{-6} t, 1/\sqrt{t}) \quad (\text{warmup\_init})
             \quad\text{or, with rho\_decay\_start } T:\ \text{lr}\,\min(1 \text{ or } t/T, \sqrt{T/t})
             \quad\text{else}\quad \rho_t = \text{lr} \\
    \alpha_t &= \max(\epsilon_2, \mathrm{RMS}(X_{t-1}))\,\rho_t \quad(\text{scale\_parameter})
             \quad\text{else}\quad \alpha_t = \rho_t \\
    \hat\beta_{2t} &= 1 - t^{c}\ (c=\text{decay\_rate})
             \quad\text{or, with a constant }\beta_2:\ \beta_2 (1-\beta_2^{t-1})/(1-\beta_2^t) \\
    R_t &= \hat\beta_{2t} R_{t-1} + (1-\hat\beta_{2t})\,\mathrm{mean}_{\text{cols}}(G_t^2 + \epsilon_1) \\
    C_t &= \hat\beta_{2t} C_{t-1} + (1-\hat\beta_{2t})\,\mathrm{mean}_{\text{rows}}(G_t^2 + \epsilon_1) \\
    \hat V_t &= R_t C_t / \mathrm{mean}(R_t) \quad (\text{factored, rank} \ge 2)
             \qquad \hat V_t = \hat\beta_{2t}\hat V_{t-1} + (1-\hat\beta_{2t})(G_t^2+\epsilon_1)\ \text{otherwise} \\
    U_t &= G_t / \sqrt{\hat V_t}, \qquad \hat U_t = U_t / \max(1, \mathrm{RMS}(U_t)/d) \\
    M_t &= \beta_1 M_{t-1} + (1-\beta_1)\,\alpha_t \hat U_t \quad(\text{beta1 set; else } M_t = \alpha_t \hat U_t) \\
    X_t &= X_{t-1}(1 - \alpha_t\,\text{weight\_decay}) - M_t

Conventions (checked in tests/test_adafactor.py):

* Row and column *means* are used; they give the paper's estimate (the sums' factors cancel).
* eps1 is *added* to :math:`G^2` as in the paper (torch.optim.Adafactor clamps instead; identical in float64).
* Momentum averages the clipped and scaled update, with no bias correction (as in the reference code).
* RMS(X) is taken before the update and before weight decay.
* Weight decay is decoupled and scaled by the applied step size :math:`\alpha_t` (torch.optim.Adafactor scales it
  by ``lr``, the step cap).
* Tensors of rank >= 2 are factored over their last two dimensions; leading dimensions are batch dimensions.
* With ``relative_step=True`` the optimizer supplies its own step size; the runner does not apply an lr schedule.

Three code paths compute the same update:

* ``foreach=False``: a per-tensor reference loop, written as the equations read.
* ``fused`` (the default where it applies): tensors on the CPU (float32/float64, contiguous) go to a C++ kernel
  (``csrc/adafactor_cpu.cpp``, built on first use by ``_native``): two passes over each tensor, one call per step.
  ``fused=None`` uses it where it builds and runs, ``fused=True`` requires it, ``fused=False`` never uses it.
* The foreach path (``foreach=True`` or None) for everything else: stock PyTorch ops, with per-tensor scalars kept
  as tensors so a step never synchronises with the host. It finishes each factored tensor before starting the
  next, so on a CPU the tensor is still in cache for its second pass; its temporaries live in one scratch buffer of
  at most ``BLOCK_NUMEL`` elements, and tensors larger than that go through in blocks of rows. The unfactored
  tensors (vectors, or all with ``factored=False``) are grouped into ``torch._foreach_*`` kernels.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor
from torch.optim import Optimizer

from optbench.optim import _native
from optbench.optim._steps import advance_and_bucket, dense_alike

__all__ = ["Adafactor", "adafactor"]


def _step_size(lr: float, step: int, relative_step: bool, warmup_init: bool, decay_start: int | None = None) -> float:
    """rho_t: the relative step size min(lr or 1e-6 t, 1/sqrt(t)), or with ``decay_start`` T the same shape on T's
    time scale, lr * min(t/T or 1, sqrt(T/t)); or the external lr."""
    if not relative_step:
        return lr
    if decay_start is not None:
        return lr * min(step / decay_start if warmup_init else 1.0, math.sqrt(decay_start / step))
    cap = 1e-6 * step if warmup_init else lr
    return min(cap, 1.0 / math.sqrt(step))


def _beta2(step: int, beta2: float | None, decay_rate: float) -> float:
    """hat beta_2t: increasing decay 1 - t^c, or a constant beta2 with Adam's bias correction folded in."""
    if beta2 is None:
        return 1.0 - step**decay_rate
    return beta2 * (1.0 - beta2 ** (step - 1)) / (1.0 - beta2**step)


def _factored(p: Tensor, factored: bool) -> bool:
    return factored and p.dim() >= 2


class Adafactor(Optimizer):
    """Adafactor with the switches the paper ablates. See the module docstring for the update rule."""

    def __init__(
        self,
        params,
        lr: float = 1e-2,
        *,
        relative_step: bool = True,
        scale_parameter: bool = True,
        warmup_init: bool = False,
        rho_decay_start: int | None = None,
        beta1: float | None = None,
        beta2: float | None = None,
        decay_rate: float = -0.8,
        clip_threshold: float | None = 1.0,
        eps: Sequence[float] = (1e-30, 1e-3),
        factored: bool = True,
        weight_decay: float = 0.0,
        foreach: bool | None = None,
        fused: bool | None = None,
    ) -> None:
        if not lr > 0.0:
            raise ValueError(f"Invalid learning rate: {lr} (must be > 0)")
        if beta1 is not None and not 0.0 <= beta1 < 1.0:
            raise ValueError(f"Invalid beta1: {beta1} (must be in [0, 1) or None)")
        if beta2 is not None and not 0.0 <= beta2 < 1.0:
            raise ValueError(f"Invalid beta2: {beta2} (must be in [0, 1) or None)")
        if not decay_rate < 0.0:
            raise ValueError(f"Invalid decay_rate: {decay_rate} (must be < 0)")
        if clip_threshold is not None and not clip_threshold > 0.0:
            raise ValueError(f"Invalid clip_threshold: {clip_threshold} (must be > 0 or None)")
        if len(eps) != 2 or not (eps[0] > 0.0 and eps[1] >= 0.0):
            raise ValueError(
                f"Invalid eps: {tuple(eps)} (eps1 must be > 0, since a zero gradient row with eps1=0 divides 0 by 0; "
                f"eps2 must be >= 0)"
            )
        if not weight_decay >= 0.0:
            raise ValueError(f"Invalid weight_decay: {weight_decay} (must be >= 0)")
        if warmup_init and not relative_step:
            raise ValueError("warmup_init=True requires relative_step=True")
        if rho_decay_start is not None and (
            isinstance(rho_decay_start, bool) or not isinstance(rho_decay_start, int) or rho_decay_start < 1
        ):
            raise ValueError(
                f"Invalid rho_decay_start: {rho_decay_start!r} (must be a whole number of steps >= 1, or None)"
            )
        if fused is not None and not isinstance(fused, bool):
            raise ValueError(f"Invalid fused: {fused!r} (must be True, False or None)")
        if fused and foreach is False:
            raise ValueError("fused=True and foreach=False ask for two different implementations; set only one")
        defaults = dict(
            lr=lr,
            relative_step=relative_step,
            scale_parameter=scale_parameter,
            warmup_init=warmup_init,
            rho_decay_start=rho_decay_start,
            beta1=beta1,
            beta2=beta2,
            decay_rate=decay_rate,
            clip_threshold=clip_threshold,
            eps=tuple(eps),
            factored=factored,
            weight_decay=weight_decay,
            foreach=foreach,
            fused=fused,
        )
        super().__init__(params, defaults)

    def __setstate__(self, state: dict) -> None:
        """Also called by load_state_dict: state saved before the ``fused`` switch existed loads with its default."""
        super().__setstate__(state)
        for group in self.param_groups:
            group.setdefault("fused", None)
            group.setdefault("rho_decay_start", None)

    def prepare(self) -> None:
        """Build or load the C++ kernel now if a step would use it, so the first step does not (the runner calls
        this before its clock starts)."""
        for group in self.param_groups:
            if group["fused"] is not False and any(
                p.device.type == "cpu" and p.dtype in NATIVE_DTYPES for p in group["params"]
            ):
                _native.adafactor_kernels()
                return

    @property
    def supplies_step_size(self) -> bool:
        """True when every group uses the relative step, so an external lr schedule must not be applied."""
        return all(g["relative_step"] for g in self.param_groups)

    @staticmethod
    def state_numel(p: Tensor, group: dict) -> int:
        """Elements of optimizer state held for ``p`` (besides the step counter)."""
        if _factored(p, group["factored"]):
            lead = p.numel() // (p.shape[-1] * p.shape[-2])
            second = lead * (p.shape[-2] + p.shape[-1])
        else:
            second = p.numel()
        return second + (p.numel() if group["beta1"] is not None else 0)

    def _init_group(self, group, params, grads, row_vars, col_vars, variances, exp_avgs, steps) -> None:
        for p in group["params"]:
            if p.grad is None:
                continue
            if p.grad.is_sparse:
                raise RuntimeError("Adafactor does not support sparse gradients")
            if torch.is_complex(p):
                raise RuntimeError("Adafactor does not support complex parameters")
            state = self.state[p]
            if len(state) == 0:
                state["step"] = torch.tensor(0.0, dtype=torch.float32)
                if _factored(p, group["factored"]):
                    state["row_var"] = p.new_zeros(p.shape[:-1])
                    state["col_var"] = p.new_zeros(p.shape[:-2] + p.shape[-1:])
                else:
                    state["variance"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                if group["beta1"] is not None:
                    state["exp_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
            if p.numel() == 0:  # state as for any tensor, but nothing to update (and no RMS of zero elements)
                continue
            params.append(p)
            grads.append(p.grad)
            row_vars.append(state.get("row_var"))
            col_vars.append(state.get("col_var"))
            variances.append(state.get("variance"))
            exp_avgs.append(state.get("exp_avg"))
            steps.append(state["step"])

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            params, grads, row_vars, col_vars, variances, exp_avgs, steps = [], [], [], [], [], [], []
            self._init_group(group, params, grads, row_vars, col_vars, variances, exp_avgs, steps)
            if not params:
                continue
            foreach = group["foreach"]
            if foreach is None:
                foreach = True
            adafactor(
                params,
                grads,
                row_vars,
                col_vars,
                variances,
                exp_avgs,
                steps,
                foreach=foreach,
                fused=group["fused"],
                lr=group["lr"],
                relative_step=group["relative_step"],
                scale_parameter=group["scale_parameter"],
                warmup_init=group["warmup_init"],
                rho_decay_start=group["rho_decay_start"],
                beta1=group["beta1"],
                beta2=group["beta2"],
                decay_rate=group["decay_rate"],
                clip_threshold=group["clip_threshold"],
                eps1=group["eps"][0],
                eps2=group["eps"][1],
                weight_decay=group["weight_decay"],
            )
        return loss


def adafactor(
    params: list[Tensor],
    grads: list[Tensor],
    row_vars: list[Tensor | None],
    col_vars: list[Tensor | None],
    variances: list[Tensor | None],
    exp_avgs: list[Tensor | None],
    steps: list[Tensor],
    *,
    foreach: bool,
    fused: bool | None = None,
    lr: float,
    relative_step: bool,
    scale_parameter: bool,
    warmup_init: bool,
    rho_decay_start: int | None = None,
    beta1: float | None,
    beta2: float | None,
    decay_rate: float,
    clip_threshold: float | None,
    eps1: float,
    eps2: float,
    weight_decay: float,
) -> None:
    """Functional Adafactor: updates ``params`` and the state tensors in place. ``fused`` applies to the fast path
    (``foreach=True``): see the module docstring."""
    hyper = dict(
        lr=lr,
        relative_step=relative_step,
        scale_parameter=scale_parameter,
        warmup_init=warmup_init,
        rho_decay_start=rho_decay_start,
        beta1=beta1,
        beta2=beta2,
        decay_rate=decay_rate,
        clip_threshold=clip_threshold,
        eps1=eps1,
        eps2=eps2,
        weight_decay=weight_decay,
    )
    state = (params, grads, row_vars, col_vars, variances, exp_avgs, steps)
    if foreach:
        _multi_tensor_adafactor(*state, fused=fused, **hyper)
    else:
        _single_tensor_adafactor(*state, **hyper)


def _single_tensor_adafactor(
    params,
    grads,
    row_vars,
    col_vars,
    variances,
    exp_avgs,
    steps,
    *,
    lr,
    relative_step,
    scale_parameter,
    warmup_init,
    rho_decay_start,
    beta1,
    beta2,
    decay_rate,
    clip_threshold,
    eps1,
    eps2,
    weight_decay,
) -> None:
    for p, g, row_var, col_var, variance, exp_avg, step_t in zip(
        params, grads, row_vars, col_vars, variances, exp_avgs, steps, strict=True
    ):
        step_t += 1
        step = int(step_t.item())
        rho = _step_size(lr, step, relative_step, warmup_init, rho_decay_start)
        beta2_t = _beta2(step, beta2, decay_rate)

        alpha = torch.as_tensor(rho, dtype=p.dtype, device=p.device)
        if scale_parameter:
            rms_p = p.norm(2) / math.sqrt(p.numel())
            alpha = rms_p.clamp(min=eps2) * rho

        grad_sq = g * g + eps1
        if row_var is not None:
            row_var.lerp_(grad_sq.mean(dim=-1), 1.0 - beta2_t)
            col_var.lerp_(grad_sq.mean(dim=-2), 1.0 - beta2_t)
            row_scale = row_var / row_var.mean(dim=-1, keepdim=True)
            update = g * row_scale.unsqueeze(-1).rsqrt() * col_var.unsqueeze(-2).rsqrt()
        else:
            variance.lerp_(grad_sq, 1.0 - beta2_t)
            update = g * variance.rsqrt()

        if clip_threshold is not None:
            rms_u = update.norm(2) / math.sqrt(update.numel())
            update.div_((rms_u / clip_threshold).clamp(min=1.0))
        update.mul_(alpha)
        if exp_avg is not None:
            exp_avg.lerp_(update, 1.0 - beta1)
            update = exp_avg
        if weight_decay != 0.0:
            p.mul_(1.0 - alpha * weight_decay)
        p.sub_(update)


def _multi_tensor_adafactor(
    params,
    grads,
    row_vars,
    col_vars,
    variances,
    exp_avgs,
    steps,
    *,
    fused,
    lr,
    relative_step,
    scale_parameter,
    warmup_init,
    rho_decay_start,
    beta1,
    beta2,
    decay_rate,
    clip_threshold,
    eps1,
    eps2,
    weight_decay,
) -> None:
    """The fast path: per step count, the tensors the C++ kernel takes (``fused``), then the other factored tensors
    one at a time and the other unfactored ones as a group."""
    scratch = _Scratch()
    for step, idx in advance_and_bucket(steps).items():
        k = _StepConstants(
            rho=_step_size(lr, step, relative_step, warmup_init, rho_decay_start),
            one_minus_beta2=1.0 - _beta2(step, beta2, decay_rate),
            scale_parameter=scale_parameter,
            beta1=beta1,
            clip_threshold=clip_threshold,
            eps1=eps1,
            eps2=eps2,
            weight_decay=weight_decay,
        )
        factored = [i for i in idx if row_vars[i] is not None]
        unfactored = [i for i in idx if row_vars[i] is None]
        if fused is not False:
            factored = _kernel_step("factored", factored, (params, grads, row_vars, col_vars, exp_avgs), k, fused)
            unfactored = _kernel_step("unfactored", unfactored, (params, grads, variances, exp_avgs), k, fused)
        for i in factored:
            _factored_step(params[i], grads[i], row_vars[i], col_vars[i], exp_avgs[i], k, scratch)
        if unfactored:
            _unfactored_steps(
                [params[i] for i in unfactored],
                [grads[i] for i in unfactored],
                [variances[i] for i in unfactored],
                [exp_avgs[i] for i in unfactored],
                k,
            )


NATIVE_DTYPES = (torch.float32, torch.float64)


def _kernel_step(kind: str, idx: list[int], lists: tuple, k: _StepConstants, fused: bool | None) -> list[int]:
    """Update the tensors ``idx`` that the C++ kernel takes, in one call of its ``kind`` op ("factored": lists are
    params, grads, row_vars, col_vars, exp_avgs; "unfactored": params, grads, variances, exp_avgs). Returns the
    indices left for the foreach path: the rest, or all when the kernel is not available. With fused=True a
    tensor the kernel cannot take, or a failed build, is an error."""
    native = [i for i in idx if _kernel_runs_on(*(t[i] for t in lists))]
    if fused and len(native) < len(idx):
        p = lists[0][next(i for i in idx if i not in native)]
        raise RuntimeError(
            f"Adafactor(fused=True) runs on contiguous float32/float64 CPU tensors with gradients and state alike; "
            f"got a {tuple(p.shape)} {p.dtype} tensor on {p.device}. Use fused=None to run such tensors on the "
            f"foreach path."
        )
    kernels = _native.adafactor_kernels() if native else None
    if kernels is None:
        if fused and native:
            raise RuntimeError(
                "Adafactor(fused=True) needs optbench's C++ CPU kernel, which could not be built here (the log "
                "says why). Use fused=None to fall back to the foreach path."
            )
        return idx
    *tensors, exp_avgs = ([t[i] for i in native] for t in lists)
    op = kernels.adafactor_factored_ if kind == "factored" else kernels.adafactor_unfactored_
    op(
        *tensors,
        exp_avgs if k.beta1 is not None else [],
        k.rho,
        k.one_minus_beta2,
        k.scale_parameter,
        k.eps1,
        k.eps2,
        k.clip_threshold or 0.0,
        k.weight_decay,
        k.beta1 or 0.0,
    )
    done = set(native)
    return [i for i in idx if i not in done]


def _kernel_runs_on(*tensors: Tensor | None) -> bool:
    """Whether the C++ kernel takes a tensor, given it, its gradient and its state: all contiguous CPU tensors of
    one dtype, float32 or float64."""
    return tensors[0].device.type == "cpu" and tensors[0].dtype in NATIVE_DTYPES and dense_alike(*tensors)


@dataclass(frozen=True)
class _StepConstants:
    """The host-side scalars of one step, shared by every tensor at that step count."""

    rho: float
    one_minus_beta2: float
    scale_parameter: bool
    beta1: float | None
    clip_threshold: float | None
    eps1: float
    eps2: float
    weight_decay: float


def _unfactored_steps(params, grads, variances, exp_avgs, k: _StepConstants) -> None:
    """Unfactored tensors (vectors, or every tensor with factored=False), grouped into torch._foreach_* kernels.
    Per-tensor scalars (alpha, RMS(U)) are 0-d tensors, so nothing synchronises with the host."""
    inv_sqrt_numel = [1.0 / math.sqrt(p.numel()) for p in params]
    if k.scale_parameter:  # alpha = max(eps2, RMS(X)) rho = max(eps2 rho, |X| rho / sqrt(numel))
        alphas = torch._foreach_norm(params)
        torch._foreach_mul_(alphas, [k.rho * s for s in inv_sqrt_numel])
        torch._foreach_clamp_min_(alphas, k.eps2 * k.rho)
    else:
        alphas = [torch.full((), k.rho, dtype=p.dtype, device=p.device) for p in params]
    if k.weight_decay != 0.0:
        decay = torch._foreach_mul(alphas, -k.weight_decay)
        torch._foreach_add_(decay, 1.0)
        torch._foreach_mul_(params, decay)
    u = torch._foreach_mul(grads, grads)
    torch._foreach_add_(u, k.eps1)
    torch._foreach_lerp_(variances, u, k.one_minus_beta2)
    torch._foreach_copy_(u, variances)
    torch._foreach_rsqrt_(u)
    torch._foreach_mul_(u, grads)  # U = G / sqrt(V)
    if k.clip_threshold is not None:  # alpha / max(1, RMS(U) / d)
        rms = torch._foreach_norm(u)
        torch._foreach_mul_(rms, [s / k.clip_threshold for s in inv_sqrt_numel])
        torch._foreach_clamp_min_(rms, 1.0)
        alphas = torch._foreach_div(alphas, rms)
    torch._foreach_mul_(u, alphas)
    if k.beta1 is None:
        torch._foreach_sub_(params, u)
        return
    torch._foreach_lerp_(exp_avgs, u, 1.0 - k.beta1)  # momentum averages the clipped, scaled update
    torch._foreach_sub_(params, exp_avgs)


# Rows of a factored matrix are processed in blocks of about this many elements, with one scratch buffer reused by
# every block and tensor: on a CPU a block stays in cache between the passes over it, and no full-size temporary
# is allocated (a fresh large allocation costs a page fault per 4 KiB on first touch).
BLOCK_NUMEL = {"cpu": 1 << 20}
DEFAULT_BLOCK_NUMEL = 1 << 24  # accelerators: few, large kernels


class _Scratch:
    """Buffers shared by the tensors of one step, kept per (device, dtype) and grown on demand: a flat work buffer,
    and the (2, rows) block [1; 1/R] for column sums."""

    def __init__(self) -> None:
        self._buffers: dict[tuple[str, torch.device, torch.dtype], Tensor] = {}

    def _get(self, name: str, like: Tensor, shape: tuple[int, ...], make) -> Tensor:
        key = (name, like.device, like.dtype)
        buf = self._buffers.get(key)
        if buf is None or buf.shape[-1] < shape[-1]:
            buf = self._buffers[key] = make(shape, dtype=like.dtype, device=like.device)
        return buf

    def work(self, like: Tensor, numel: int) -> Tensor:
        return self._get("work", like, (numel,), torch.empty)

    def lhs(self, like: Tensor, rows: int) -> Tensor:
        """A (2, rows) buffer whose first row is ones; callers overwrite the second row."""
        return self._get("lhs", like, (2, rows), torch.ones)


def _factored_step(p, g, row_var, col_var, exp_avg, k: _StepConstants, scratch: _Scratch) -> None:
    """The factored update of one tensor, without materialising V_hat or a full-size temporary.

    Everything for one tensor happens before the next, so on a CPU a tensor that fits in the last-level cache is
    read from memory about once. With r_i^2 = mean(R) / R_i, U = (G C^-1/2) r_i, and the update is
    X -= (G C^-1/2) * (alpha' r_i), where alpha' folds in the step size and the clipping factor.
    """
    out = p.contiguous()  # p itself unless its layout is unusual; then updated and copied back
    mom = exp_avg.contiguous() if exp_avg is not None else None
    n, m = p.shape[-2], p.shape[-1]
    x, g = out.view(-1, n, m), g.contiguous().view(-1, n, m)
    rows, cols = row_var.view(-1, n), col_var.view(-1, m)
    moms = mom.view(-1, n, m) if mom is not None else None
    if k.scale_parameter:  # alpha = max(eps2, RMS(X)) rho, from X before this step
        alpha = torch.linalg.vector_norm(out).mul_(k.rho / math.sqrt(p.numel())).clamp_min_(k.eps2 * k.rho)
    else:
        alpha = torch.full((), k.rho, dtype=p.dtype, device=p.device)
    if k.weight_decay != 0.0:
        out.mul_(1.0 - alpha * k.weight_decay)
    block_numel = BLOCK_NUMEL.get(p.device.type, DEFAULT_BLOCK_NUMEL)
    if p.numel() <= block_numel:
        _factored_in_one_block(x, g, rows, cols, moms, alpha, k, scratch.work(p, p.numel()))
    else:
        _factored_by_row_blocks(x, g, rows, cols, moms, alpha, k, scratch, max(1, min(n, block_numel // m)))
    if out is not p:
        p.copy_(out)
    if mom is not exp_avg:
        exp_avg.copy_(mom)


def _factored_in_one_block(x, g, rows, cols, moms, alpha, k: _StepConstants, work: Tensor) -> None:
    """x, g: (batch, n, m). G^2, then U / r_i, live in ``work``; mean(U^2) comes from the row norms of U / r_i."""
    sq = torch.mul(g, g, out=work[: g.numel()].view_as(g))
    rows.lerp_(sq.mean(dim=-1).add_(k.eps1), k.one_minus_beta2)
    cols.lerp_(sq.mean(dim=-2).add_(k.eps1), k.one_minus_beta2)
    u = torch.mul(g, cols.rsqrt().unsqueeze(-2), out=sq)  # G C^-1/2
    r_sq = torch.div(rows.mean(dim=-1, keepdim=True), rows)
    scale = alpha
    if k.clip_threshold is not None:  # mean(U^2) = sum_i r_i^2 |(G C^-1/2)_i|^2 / numel
        mean_sq = torch.linalg.vecdot(torch.linalg.vector_norm(u, dim=-1).square_(), r_sq).sum()
        scale = alpha / _clip_divisor(mean_sq, x.numel(), k)
    _apply_update(x, moms, u, r_sq.sqrt_().mul_(scale).unsqueeze(-1), k)


def _factored_by_row_blocks(x, g, rows, cols, moms, alpha, k: _StepConstants, scratch: _Scratch, span: int) -> None:
    """x, g: (batch, n, m), too large for one block: two passes over blocks of ``span`` rows.

    Pass 1 forms G^2 for a block, updates that block's R from its row means, and accumulates the column sums of
    G^2 and of G^2 / R_i. Those give C and mean(U^2) = mean(R) * sum_ij G^2_ij / (R_i C_j) / numel, hence the
    clipping factor. Pass 2 applies the update block by block.
    """
    n, m = x.shape[-2], x.shape[-1]
    blocks = [(lo, min(lo + span, n)) for lo in range(0, n, span)]
    work = scratch.work(x, span * m)
    lhs = scratch.lhs(x, span)
    sums = torch.zeros(x.shape[0], 2, m, dtype=x.dtype, device=x.device)  # per matrix: sum_i G^2, sum_i G^2/R_i
    for b in range(x.shape[0]):
        for lo, hi in blocks:
            sq = torch.mul(g[b, lo:hi], g[b, lo:hi], out=work[: (hi - lo) * m].view(hi - lo, m))
            r = rows[b, lo:hi]
            r.lerp_(sq.mean(dim=-1).add_(k.eps1), k.one_minus_beta2)
            torch.reciprocal(r, out=lhs[1, : hi - lo])
            sums[b].addmm_(lhs[:, : hi - lo], sq)
    col_sums, weighted = sums.unbind(dim=1)
    cols.lerp_(col_sums.div_(n).add_(k.eps1), k.one_minus_beta2)
    inv_cols = cols.reciprocal()
    row_mean = rows.mean(dim=-1, keepdim=True)
    scale = alpha
    if k.clip_threshold is not None:
        mean_sq = torch.linalg.vecdot(torch.linalg.vecdot(weighted, inv_cols), row_mean.squeeze(-1))
        scale = alpha / _clip_divisor(mean_sq, x.numel(), k)
    row_factor = torch.div(row_mean, rows).sqrt_().mul_(scale)
    col_factor = inv_cols.sqrt_()
    for b in range(x.shape[0]):
        for lo, hi in blocks:
            u = torch.mul(g[b, lo:hi], col_factor[b], out=work[: (hi - lo) * m].view(hi - lo, m))
            _apply_update(x[b, lo:hi], moms[b, lo:hi] if moms is not None else None, u, row_factor[b, lo:hi, None], k)


def _clip_divisor(sum_sq: Tensor, numel: int, k: _StepConstants) -> Tensor:
    """max(1, RMS(U) / d) from sum(U^2), as a tensor."""
    return sum_sq.div_(numel * k.clip_threshold**2).sqrt_().clamp_min_(1.0)


def _apply_update(x: Tensor, mom: Tensor | None, u: Tensor, row_factor: Tensor, k: _StepConstants) -> None:
    """x -= u * row_factor; with momentum, mom <- lerp(mom, u * row_factor, 1 - beta1) and x -= mom."""
    if mom is None:
        x.addcmul_(u, row_factor, value=-1.0)
        return
    mom.lerp_(u.mul_(row_factor), 1.0 - k.beta1)
    x.sub_(mom)
