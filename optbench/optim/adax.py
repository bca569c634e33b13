r"""AdaX (Li et al., 2020, "AdaX: Adaptive Gradient Descent with Exponential Long Term Memory").

.. math::
    m_t &= \beta_1 m_{t-1} + (1-\beta_1) g_t \\
    v_t &= (1+\beta_2) v_{t-1} + \beta_2 g_t^2 \\
    \hat v_t &= v_t / ((1+\beta_2)^t - 1) \\
    \theta_t &= \theta_{t-1}(1 - \text{lr}\cdot\text{weight\_decay}) - \text{lr}\, m_t / (\sqrt{\hat v_t} + \epsilon)

Conventions (checked in tests/test_adax.py):

* No bias correction on :math:`m_t` (as in the paper).
* eps is added to :math:`\sqrt{\hat v_t}` *after* the bias correction (the paper's form; the authors' code adds it
  before).
* :math:`v_t` itself grows like :math:`(1+\beta_2)^t` and overflows float32 near a million steps, so the state holds
  :math:`\hat v_t` directly. Since :math:`b_t = (1+\beta_2)^t - 1` obeys :math:`b_t = (1+\beta_2) b_{t-1} + \beta_2`,
  :math:`\hat v_t = \hat v_{t-1} + (\beta_2 / b_t)(g_t^2 - \hat v_{t-1})`: a lerp with weight :math:`\beta_2/b_t`,
  computed in float64 on the host from the step count.
* Weight decay is decoupled (AdaX-W) with the torch.optim.AdamW convention: ``param *= 1 - lr * weight_decay``.
* ``bias_correction=False`` divides by :math:`\sqrt{v_t} = \sqrt{b_t \hat v_t}` instead: the same paths with
  lr and eps divided by :math:`\sqrt{b_t}` (and weight decay multiplied by it, so lr * weight_decay is unchanged).

Three code paths compute the same update. Written as a lerp, AdaX is AdamW with a per-step
:math:`\beta_2 = 1 - \beta_2/b_t` and no bias correction, so the default path (``fused``, on CPU and CUDA) runs
torch's fused AdamW kernel, one pass over memory, with those constants and a step count so large that its bias
corrections are exactly 1. The grouped ``torch._foreach_*`` path (``foreach``) runs instead for tensors the fused
kernel must not take (a parameter, gradient or state that is not contiguous, e.g. a transposed or strided view),
when the weight drops below double precision (past ~2.8e5 steps at the paper's :math:`\beta_2`), on other
devices, and under ``torch.compile``; the per-tensor loop (``foreach=False, fused=False``) is the reference.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor
from torch.optim import Optimizer

from optbench.optim._steps import advance_and_bucket, dense_alike, supports_fused

__all__ = ["AdaX", "adax", "adax_weight"]


def adax_weight(step: int, beta2: float) -> float:
    """beta2 / ((1 + beta2)^t - 1): the weight of g_t^2 in the bias-corrected second moment."""
    exponent = step * math.log1p(beta2)
    if exponent > 700.0:  # (1+beta2)^t beyond float64; the weight is below 1e-300
        return 0.0
    return beta2 / math.expm1(exponent)


class AdaX(Optimizer):
    """AdaX / AdaX-W. See the module docstring for the update rule."""

    def __init__(
        self,
        params,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 1e-4),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        *,
        bias_correction: bool = True,
        foreach: bool | None = None,
        fused: bool | None = None,
    ) -> None:
        if not lr > 0.0:
            raise ValueError(f"Invalid learning rate: {lr} (must be > 0)")
        if len(betas) != 2 or not all(0.0 <= b < 1.0 for b in betas):
            raise ValueError(f"Invalid betas: {tuple(betas)} (each must be in [0, 1))")
        if betas[1] == 0.0:
            raise ValueError("Invalid betas: beta2 must be > 0 for AdaX")
        if not eps > 0.0:
            raise ValueError(f"Invalid eps: {eps} (must be > 0: a zero gradient with eps=0 divides 0 by 0)")
        if not weight_decay >= 0.0:
            raise ValueError(f"Invalid weight_decay: {weight_decay} (must be >= 0)")
        if fused is not None and not isinstance(fused, bool):
            raise ValueError(f"Invalid fused: {fused!r} (must be True, False or None)")
        defaults = dict(
            lr=lr,
            betas=tuple(betas),
            eps=eps,
            weight_decay=weight_decay,
            bias_correction=bias_correction,
            foreach=foreach,
            fused=fused,
        )
        super().__init__(params, defaults)

    def __setstate__(self, state: dict) -> None:
        """Also called by load_state_dict: state saved before the ``fused`` switch existed loads with its default."""
        super().__setstate__(state)
        for group in self.param_groups:
            group.setdefault("foreach", None)
            group.setdefault("fused", None)
            group.setdefault("bias_correction", True)

    @staticmethod
    def state_numel(p: Tensor, group: dict) -> int:
        """Elements of optimizer state held for ``p`` (besides the step counter): m and v_hat."""
        return 2 * p.numel()

    def _init_group(self, group, params, grads, exp_avgs, exp_avg_sqs, steps) -> None:
        for p in group["params"]:
            if p.grad is None:
                continue
            if p.grad.is_sparse:
                raise RuntimeError("AdaX does not support sparse gradients")
            state = self.state[p]
            if len(state) == 0:
                state["step"] = torch.tensor(0.0, dtype=torch.float32)
                state["exp_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                state["exp_avg_sq"] = torch.zeros_like(p, memory_format=torch.preserve_format)  # holds v_hat
            params.append(p)
            grads.append(p.grad)
            exp_avgs.append(state["exp_avg"])
            exp_avg_sqs.append(state["exp_avg_sq"])
            steps.append(state["step"])

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            params, grads, exp_avgs, exp_avg_sqs, steps = [], [], [], [], []
            self._init_group(group, params, grads, exp_avgs, exp_avg_sqs, steps)
            if not params:
                continue
            foreach, fused = group["foreach"], group["fused"]
            if fused is None:
                fused = foreach is not False and supports_fused(params)
            adax(
                params,
                grads,
                exp_avgs,
                exp_avg_sqs,
                steps,
                foreach=True if foreach is None else foreach,
                fused=fused,
                lr=group["lr"],
                beta1=group["betas"][0],
                beta2=group["betas"][1],
                eps=group["eps"],
                weight_decay=group["weight_decay"],
                bias_correction=group["bias_correction"],
            )
        return loss


def adax(
    params: list[Tensor],
    grads: list[Tensor],
    exp_avgs: list[Tensor],
    exp_avg_sqs: list[Tensor],
    steps: list[Tensor],
    *,
    foreach: bool,
    fused: bool = False,
    lr: float,
    beta1: float,
    beta2: float,
    eps: float,
    weight_decay: float,
    bias_correction: bool = True,
) -> None:
    """Functional AdaX: updates ``params`` and the state tensors in place."""
    if not (fused or foreach):
        _single_tensor_adax(
            params,
            grads,
            exp_avgs,
            exp_avg_sqs,
            steps,
            lr=lr,
            beta1=beta1,
            beta2=beta2,
            eps=eps,
            weight_decay=weight_decay,
            bias_correction=bias_correction,
        )
        return
    if fused and torch.compiler.is_compiling():
        fused = False  # torch.compile traces the foreach path; the fused kernel call with a 1e30 step does not
    for step, idx in advance_and_bucket(steps).items():
        w = adax_weight(step, beta2)
        s_lr, s_eps, s_wd = (
            (lr, eps, weight_decay) if bias_correction else _uncorrected(lr, eps, weight_decay, w, beta2)
        )
        use_fused = fused and 1.0 - w < 1.0  # below double precision, beta2 = 1 - w would round to 1
        fusable = [i for i in idx if use_fused and dense_alike(params[i], grads[i], exp_avgs[i], exp_avg_sqs[i])]
        taken = set(fusable)
        rest = [i for i in idx if i not in taken]
        for same_step, chosen in ((_fused_adax, fusable), (_multi_tensor_adax, rest)):
            if not chosen:
                continue
            same_step(
                [params[i] for i in chosen],
                [grads[i] for i in chosen],
                [exp_avgs[i] for i in chosen],
                [exp_avg_sqs[i] for i in chosen],
                w=w,
                lr=s_lr,
                beta1=beta1,
                eps=s_eps,
                weight_decay=s_wd,
            )


def _uncorrected(lr: float, eps: float, weight_decay: float, w: float, beta2: float) -> tuple[float, float, float]:
    """(lr, eps, weight_decay) that make the corrected update divide by sqrt(v_t) = sqrt(b_t) sqrt(v_hat_t):
    b_t = beta2 / w; lr / sqrt(b_t), eps / sqrt(b_t), weight_decay * sqrt(b_t) (lr * weight_decay unchanged)."""
    scale = math.sqrt(beta2 / w) if w > 0.0 else math.inf
    if not math.isfinite(scale):
        return 0.0, eps, 0.0  # v_t beyond float64: the step is 0; decay is left out with it (past ~7e6 steps)
    return lr / scale, eps / scale, weight_decay * scale


# Passed to the fused AdamW kernel as the step count: 1 - beta^t is then exactly 1 in double precision for every
# beta < 1 (beta^1e30 underflows to 0), so the kernel applies no bias correction. Exact in float32.
_NO_BIAS_CORRECTION_STEP = 1e30


def _single_tensor_adax(
    params, grads, exp_avgs, exp_avg_sqs, steps, *, lr, beta1, beta2, eps, weight_decay, bias_correction=True
):
    for p, g, m, v_hat, step_t in zip(params, grads, exp_avgs, exp_avg_sqs, steps, strict=True):
        step_t += 1
        w = adax_weight(int(step_t.item()), beta2)
        if weight_decay != 0.0:
            p.mul_(1.0 - lr * weight_decay)
        m.lerp_(g, 1.0 - beta1)
        v_hat.lerp_(g * g, w)
        if bias_correction:
            denom = v_hat.sqrt().add_(eps)
        else:  # sqrt(v_t) = sqrt(b_t * v_hat), the paper's v_t without its normalisation
            denom = (v_hat * (beta2 / w)).sqrt().add_(eps)
        p.addcdiv_(m, denom, value=-lr)


def _multi_tensor_adax(params, grads, exp_avgs, exp_avg_sqs, *, w, lr, beta1, eps, weight_decay):
    """One step for tensors at the same step count, as a chain of torch._foreach_* kernels."""
    if weight_decay != 0.0:
        torch._foreach_mul_(params, 1.0 - lr * weight_decay)
    torch._foreach_lerp_(exp_avgs, grads, 1.0 - beta1)
    torch._foreach_mul_(exp_avg_sqs, 1.0 - w)  # v_hat <- (1 - w) v_hat + w g^2, without a g^2 temporary
    torch._foreach_addcmul_(exp_avg_sqs, grads, grads, value=w)
    denom = torch._foreach_sqrt(exp_avg_sqs)
    torch._foreach_add_(denom, eps)
    torch._foreach_addcdiv_(params, exp_avgs, denom, value=-lr)


def _fused_adax(params, grads, exp_avgs, exp_avg_sqs, *, w, lr, beta1, eps, weight_decay):
    """One step for tensors at the same step count, in torch's fused AdamW kernel (one pass over memory):
    beta2 = 1 - w and a step count that turns both bias corrections into 1."""
    groups: dict[tuple[torch.device, torch.dtype], list[int]] = {}
    for i, p in enumerate(params):
        groups.setdefault((p.device, p.dtype), []).append(i)
    for (device, _), idx in groups.items():
        step = torch.full((), _NO_BIAS_CORRECTION_STEP, dtype=torch.float32, device=device)
        torch._fused_adamw_(
            [params[i] for i in idx],
            [grads[i] for i in idx],
            [exp_avgs[i] for i in idx],
            [exp_avg_sqs[i] for i in idx],
            [],
            [step] * len(idx),
            lr=lr,
            beta1=beta1,
            beta2=1.0 - w,
            weight_decay=weight_decay,
            eps=eps,
            amsgrad=False,
            maximize=False,
        )
