r"""Adafactor (Shazeer & Stern, 2018, "Adafactor: Adaptive Learning Rates with Sublinear Memory Cost").

For a parameter :math:`X` with gradient :math:`G_t` at step :math:`t`:

.. math::
    \rho_t &= \min(\text{lr}, 1/\sqrt{t})  \quad (\text{relative\_step})
             \quad\text{or}\quad \min(10^{-6} t, 1/\sqrt{t}) \quad (\text{warmup\_init})
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

Two code paths compute the same update: a per-tensor loop (``foreach=False``) and a grouped one using
``torch._foreach_*`` kernels (``foreach=True``, the default), which keeps per-tensor scalars as tensors so that a
step never synchronises with the host.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor
from torch.optim import Optimizer

from optbench.optim._steps import advance_and_bucket

__all__ = ["Adafactor", "adafactor"]


def _step_size(lr: float, step: int, relative_step: bool, warmup_init: bool) -> float:
    """rho_t: the relative step size min(lr or 1e-6 t, 1/sqrt(t)), or the external lr."""
    if not relative_step:
        return lr
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
        beta1: float | None = None,
        beta2: float | None = None,
        decay_rate: float = -0.8,
        clip_threshold: float | None = 1.0,
        eps: Sequence[float] = (1e-30, 1e-3),
        factored: bool = True,
        weight_decay: float = 0.0,
        foreach: bool | None = None,
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
        if len(eps) != 2 or not (eps[0] >= 0.0 and eps[1] >= 0.0):
            raise ValueError(f"Invalid eps: {eps} (must be two non-negative floats)")
        if not weight_decay >= 0.0:
            raise ValueError(f"Invalid weight_decay: {weight_decay} (must be >= 0)")
        if warmup_init and not relative_step:
            raise ValueError("warmup_init=True requires relative_step=True")
        defaults = dict(
            lr=lr,
            relative_step=relative_step,
            scale_parameter=scale_parameter,
            warmup_init=warmup_init,
            beta1=beta1,
            beta2=beta2,
            decay_rate=decay_rate,
            clip_threshold=clip_threshold,
            eps=tuple(eps),
            factored=factored,
            weight_decay=weight_decay,
            foreach=foreach,
        )
        super().__init__(params, defaults)

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
                lr=group["lr"],
                relative_step=group["relative_step"],
                scale_parameter=group["scale_parameter"],
                warmup_init=group["warmup_init"],
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
    lr: float,
    relative_step: bool,
    scale_parameter: bool,
    warmup_init: bool,
    beta1: float | None,
    beta2: float | None,
    decay_rate: float,
    clip_threshold: float | None,
    eps1: float,
    eps2: float,
    weight_decay: float,
) -> None:
    """Functional Adafactor: updates ``params`` and the state tensors in place."""
    fn = _multi_tensor_adafactor if foreach else _single_tensor_adafactor
    fn(
        params,
        grads,
        row_vars,
        col_vars,
        variances,
        exp_avgs,
        steps,
        lr=lr,
        relative_step=relative_step,
        scale_parameter=scale_parameter,
        warmup_init=warmup_init,
        beta1=beta1,
        beta2=beta2,
        decay_rate=decay_rate,
        clip_threshold=clip_threshold,
        eps1=eps1,
        eps2=eps2,
        weight_decay=weight_decay,
    )


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
        rho = _step_size(lr, step, relative_step, warmup_init)
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
    lr,
    relative_step,
    scale_parameter,
    warmup_init,
    beta1,
    beta2,
    decay_rate,
    clip_threshold,
    eps1,
    eps2,
    weight_decay,
) -> None:
    for step, idx in advance_and_bucket(steps).items():
        rho = _step_size(lr, step, relative_step, warmup_init)
        one_minus_beta2 = 1.0 - _beta2(step, beta2, decay_rate)
        _multi_tensor_adafactor_same_step(
            [params[i] for i in idx],
            [grads[i] for i in idx],
            [row_vars[i] for i in idx],
            [col_vars[i] for i in idx],
            [variances[i] for i in idx],
            [exp_avgs[i] for i in idx],
            rho=rho,
            one_minus_beta2=one_minus_beta2,
            scale_parameter=scale_parameter,
            beta1=beta1,
            clip_threshold=clip_threshold,
            eps1=eps1,
            eps2=eps2,
            weight_decay=weight_decay,
        )


def _multi_tensor_adafactor_same_step(
    params,
    grads,
    row_vars,
    col_vars,
    variances,
    exp_avgs,
    *,
    rho,
    one_minus_beta2,
    scale_parameter,
    beta1,
    clip_threshold,
    eps1,
    eps2,
    weight_decay,
) -> None:
    """One step for tensors at the same step count. Per-tensor scalars stay on device (no host sync).

    Factored tensors never materialise V_hat or U: with r = rsqrt(R / mean(R)) and c = rsqrt(C),
    U = (G * c) * r, and mean(U^2) = sum_i r_i^2 (G^2 @ c^2)_i / numel, where G^2 @ [1, c^2] also gives the row
    sums; the clipping and step-size scale fold into r, so the parameter update is a single addcmul.
    """
    # alpha_t per tensor: max(eps2, RMS(p)) * rho, from the parameters before this step
    if scale_parameter:
        alphas = torch._foreach_norm(params)
        torch._foreach_mul_(alphas, [1.0 / math.sqrt(p.numel()) for p in params])
        torch._foreach_clamp_min_(alphas, eps2)
        torch._foreach_mul_(alphas, rho)
    else:
        alphas = [torch.full((), rho, dtype=p.dtype, device=p.device) for p in params]
    if weight_decay != 0.0:
        decay = torch._foreach_mul(alphas, -weight_decay)
        torch._foreach_add_(decay, 1.0)
        torch._foreach_mul_(params, decay)

    def clip_scale(alpha: Tensor, mean_sq: Tensor) -> Tensor:
        """alpha / max(1, RMS(U) / d), as a tensor."""
        if clip_threshold is None:
            return alpha
        return alpha / (mean_sq.sqrt() / clip_threshold).clamp(min=1.0)

    n = len(params)
    fac = [i for i in range(n) if row_vars[i] is not None]
    full = [i for i in range(n) if row_vars[i] is None]
    updates: dict[int, tuple[Tensor, Tensor]] = {}  # i -> (buffer, factor): the update is buffer * factor

    if fac:
        g_fac = [grads[i] for i in fac]
        sq = torch._foreach_mul(g_fac, g_fac)  # G^2, the one full-size temporary
        col_means = [s.mean(dim=-2) for s in sq]
        torch._foreach_add_(col_means, eps1)
        c_vars = [col_vars[i] for i in fac]
        torch._foreach_lerp_(c_vars, col_means, one_minus_beta2)
        c_inv = torch._foreach_reciprocal(c_vars)  # c^2 = 1 / C
        # one pass over G^2 per tensor: row sums and G^2 @ (1 / C)
        both = [torch.matmul(s, torch.stack([torch.ones_like(c), c], dim=-1)) for s, c in zip(sq, c_inv, strict=True)]
        row_means = [b[..., 0] / s.shape[-1] for b, s in zip(both, sq, strict=True)]
        torch._foreach_add_(row_means, eps1)
        r_vars = [row_vars[i] for i in fac]
        torch._foreach_lerp_(r_vars, row_means, one_minus_beta2)
        r_sq = torch._foreach_div([r.mean(dim=-1, keepdim=True) for r in r_vars], r_vars)  # r^2 = mean(R) / R
        for j, i in enumerate(fac):
            mean_sq = (r_sq[j] * both[j][..., 1]).sum() / params[i].numel()  # mean(U^2)
            factor = r_sq[j].sqrt_().mul_(clip_scale(alphas[i], mean_sq)).unsqueeze(-1)
            updates[i] = (torch.mul(grads[i], c_inv[j].sqrt_().unsqueeze(-2), out=sq[j]), factor)  # G * c
    if full:
        g_full = [grads[i] for i in full]
        v_full = [variances[i] for i in full]
        sq = torch._foreach_mul(g_full, g_full)
        torch._foreach_add_(sq, eps1)
        torch._foreach_lerp_(v_full, sq, one_minus_beta2)
        torch._foreach_copy_(sq, v_full)
        torch._foreach_rsqrt_(sq)
        torch._foreach_mul_(sq, g_full)  # U = G / sqrt(V)
        for j, i in enumerate(full):
            mean_sq = sq[j].pow(2).mean() if clip_threshold is not None else None
            updates[i] = (sq[j], clip_scale(alphas[i], mean_sq))

    if beta1 is None:
        for i, (buffer, factor) in updates.items():
            params[i].addcmul_(buffer, factor, value=-1.0)
        return
    steps = []
    for i in range(n):  # momentum averages the clipped, scaled update: materialise it
        buffer, factor = updates[i]
        steps.append(buffer.mul_(factor))
    torch._foreach_lerp_(list(exp_avgs), steps, 1.0 - beta1)
    torch._foreach_sub_(params, list(exp_avgs))
