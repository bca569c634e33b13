"""Muon as it is used: ``torch.optim.Muon`` on the hidden weight matrices, ``torch.optim.AdamW`` on the rest.

Muon orthogonalises the momentum of a whole matrix, so it applies to 2-D hidden weights only; torch's docs (and
Jordan et al. 2024) leave the input embedding, the output layer and every vector (biases, norm gains) to AdamW.
``MuonHybrid`` holds the two torch optimizers as ``parts`` and presents them as one: schedulers see every param
group (Muon's first), ``state_dict`` holds both, and memory accounting reads each part's state.

Which matrices are hidden: every 2-D parameter except the embeddings' and the output layer's. The output layer is,
in a model with an ``nn.Embedding``, any ``nn.Linear`` mapping to the embedding's vocabulary (a head tied to the
embedding is the embedding itself), and otherwise the model's last module with a 2-D weight (the classifier).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.optim import Optimizer

from optbench.optim.about import About


def split_for_muon(model: nn.Module) -> tuple[list[nn.Parameter], list[nn.Parameter]]:
    """(hidden matrices for Muon, everything else for AdamW), each parameter once, in the model's order."""
    excluded: set[int] = set()
    modules = list(model.modules())
    vocabularies = {m.num_embeddings for m in modules if isinstance(m, nn.Embedding)}
    with_matrix = [m for m in modules if isinstance(getattr(m, "weight", None), nn.Parameter) and m.weight.dim() == 2]
    if vocabularies:
        heads = [m for m in with_matrix if isinstance(m, nn.Embedding) or getattr(m, "out_features", 0) in vocabularies]
    else:
        heads = with_matrix[-1:]
    for module in heads:
        excluded.update(id(p) for p in module.parameters(recurse=False))
    hidden, rest = [], []
    for p in model.parameters():
        if p.requires_grad:
            (hidden if p.dim() == 2 and id(p) not in excluded else rest).append(p)
    return hidden, rest


class MuonHybrid(Optimizer):
    """Muon (lr, momentum, nesterov, ns_steps, weight_decay, adjust_lr_fn) for hidden matrices; AdamW with
    ``adamw_lr``, ``adamw_betas``, ``adamw_eps``, ``adamw_weight_decay`` for the rest."""

    def __init__(
        self,
        model: nn.Module,
        lr: float = 0.02,
        momentum: float = 0.95,
        nesterov: bool = True,
        ns_steps: int = 5,
        weight_decay: float = 0.0,
        adjust_lr_fn: str | None = None,
        adamw_lr: float = 3e-4,
        adamw_betas: tuple[float, float] = (0.9, 0.95),
        adamw_eps: float = 1e-8,
        adamw_weight_decay: float = 0.0,
    ) -> None:
        hidden, rest = split_for_muon(model)
        if not hidden:
            raise ValueError("the model has no hidden 2-D weight for Muon; use adamw instead")
        muon = torch.optim.Muon(
            hidden,
            lr=lr,
            momentum=momentum,
            nesterov=nesterov,
            ns_steps=ns_steps,
            weight_decay=weight_decay,
            adjust_lr_fn=adjust_lr_fn,
        )
        parts = [muon]
        if rest:
            betas = tuple(adamw_betas)
            parts.append(
                torch.optim.AdamW(rest, lr=adamw_lr, betas=betas, eps=adamw_eps, weight_decay=adamw_weight_decay)
            )
        self._own_groups: list[dict] = []
        super().__init__(hidden + rest, {"lr": lr})  # sets up torch's hook machinery; the parts hold the groups
        self.parts = tuple(parts)
        # what each part holds, for the analytic memory count: Muon a momentum buffer, AdamW two moments + a step
        muon.optbench_about = About(name="muon", state={"rule": "like_param", "slots": 1})
        if rest:
            parts[1].optbench_about = About(name="adamw", state={"rule": "like_param", "slots": 2, "counters": 1})

    @property
    def param_groups(self) -> list[dict[str, Any]]:
        parts = self.__dict__.get("parts")
        return [g for part in parts for g in part.param_groups] if parts else self._own_groups

    @param_groups.setter
    def param_groups(self, value: list[dict[str, Any]]) -> None:
        if not self.__dict__.get("parts"):
            self._own_groups = value

    @property
    def state(self) -> dict:
        parts = self.__dict__.get("parts")
        return {p: s for part in parts for p, s in part.state.items()} if parts else {}

    @state.setter
    def state(self, value) -> None:
        pass  # the parts own the state

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for part in self.parts:
            part.step()
        return loss

    def zero_grad(self, set_to_none: bool = True) -> None:
        for part in self.parts:
            part.zero_grad(set_to_none=set_to_none)

    def state_dict(self) -> dict[str, Any]:
        return {"parts": [part.state_dict() for part in self.parts]}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        for part, saved in zip(self.parts, state_dict["parts"], strict=True):
            part.load_state_dict(saved)
