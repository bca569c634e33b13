"""Signum (Bernstein et al. 2018): SGD on the sign of a momentum average of the gradients."""

import torch


class Signum(torch.optim.Optimizer):
    def __init__(self, params, lr: float = 1e-3, momentum: float = 0.9):
        super().__init__(params, dict(lr=lr, momentum=momentum))

    @staticmethod
    def state_numel(p: torch.Tensor, group: dict) -> int:
        """optbench's analytic memory count: one momentum buffer per parameter (plus a step counter)."""
        return p.numel()

    @torch.no_grad()
    def step(self, closure=None):
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                if not state:
                    state["step"] = torch.tensor(0.0)
                    state["momentum"] = torch.zeros_like(p)
                state["step"] += 1
                m = state["momentum"].lerp_(p.grad, 1 - group["momentum"])
                p.add_(m.sign(), alpha=-group["lr"])
