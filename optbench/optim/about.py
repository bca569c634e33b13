"""What an optimizer's YAML declares about itself under ``about:`` (none of it reaches the constructor).

    about:
      source: pytorch-optimizer          # where the class comes from: torch.optim, optbench, a library
      extra: zoo                         # the optbench extra that installs it (pip install 'optbench[zoo]')
      paper: Chen et al. 2023, ...       # the method's paper
      defaults: the paper's Table 12     # where the hyperparameters below come from
      family: sign                       # groups optimizers in figures (one colour family each)
      state: {rule: like_param, slots: 1}   # analytic state bytes (optbench/optim/state_rules.py)
      params: parameters                 # what the constructor takes: parameters | model (named partitioning)
      schedule: true                     # false: it supplies its own step size (Schedule-Free), no scheduler
      create_graph: false                # the step needs second derivatives: backward(create_graph=True)
      compiles: false                    # its first step compiles kernels (kept out of training time)
      devices: [cpu, cuda]               # where it runs
      weight_decay: decoupled            # what its own ``weight_decay`` does: decoupled | l2 | null (none)
      not_sharded: {fsdp: why}           # data-parallel strategies it cannot run under (zero1, fsdp), and why

Everything is optional; an optimizer that declares nothing is a plain ``torch.optim.Optimizer`` over the
parameters with an unknown analytic state count. Classes may declare the same names as class attributes
(``create_graph``, ``state_numel``), as optbench's own do.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from optbench.errors import OptbenchError

PARAMS_KINDS = ("parameters", "model")
SHARDING = ("zero1", "fsdp")  # distributed.shard_optimizer_state, distributed.fully_shard
WEIGHT_DECAY_MODES = ("decoupled", "l2")
EXTRAS = {"zoo": "pytorch-optimizer", "lowbit": "torchao"}  # optbench extra -> the package it installs


@dataclass(frozen=True)
class About:
    name: str = "?"
    source: str | None = None
    extra: str | None = None
    paper: str | None = None
    defaults: str | None = None
    family: str = "other"
    state: Mapping[str, Any] | None = None
    params: str = "parameters"
    schedule: bool = True
    create_graph: bool = False
    compiles: bool = False
    devices: tuple[str, ...] = ("cpu", "cuda")
    weight_decay: str | None = None
    notes: str | None = None
    not_sharded: Mapping[str, str] | None = None

    def install_hint(self) -> str:
        if not self.extra:
            return ""
        package = EXTRAS.get(self.extra, self.extra)
        return (
            f"It comes from {package}, which optbench installs as an extra: pip install 'optbench[{self.extra}]' "
            f"(or pip install {package} beside your torch)."
        )


def read_about(cfg: Mapping[str, Any]) -> About:
    """The ``about`` block of a resolved optimizer config; OptbenchError for a value optbench cannot honour."""
    name = cfg.get("name", "?")
    block = dict(cfg.get("about") or {})
    known = set(About.__dataclass_fields__) - {"name"}
    unknown = sorted(set(block) - known)
    if unknown:
        raise OptbenchError(
            f"optimizer '{name}': about.{unknown[0]} is not a declaration optbench reads; valid ones are "
            f"{', '.join(sorted(known))} (see optbench/optim/about.py)."
        )
    if block.get("params", "parameters") not in PARAMS_KINDS:
        raise OptbenchError(
            f"optimizer '{name}': about.params={block['params']!r} is not valid; use one of {', '.join(PARAMS_KINDS)}."
        )
    if block.get("weight_decay") not in (None, *WEIGHT_DECAY_MODES):
        raise OptbenchError(
            f"optimizer '{name}': about.weight_decay={block['weight_decay']!r} is not valid; use decoupled, l2 or "
            f"null (the optimizer has no weight decay of its own)."
        )
    bad = sorted(set(block.get("not_sharded") or {}) - set(SHARDING))
    if bad:
        raise OptbenchError(
            f"optimizer '{name}': about.not_sharded names {bad[0]!r}; the strategies are {', '.join(SHARDING)}."
        )
    if "devices" in block:
        block["devices"] = tuple(block["devices"])
    return About(name=name, **block)
