"""Memory of one training step of a model too big to allocate: the same step as ``memtrack.measure_step``, run on
fake tensors.

Under ``torch._subclasses.fake_tensor.FakeTensorMode`` every tensor has a shape, dtype and device but no storage,
and every operator runs its shape logic only; ``MemTracker`` counts the storages those operators would allocate.
So the projection runs the model's own forward, the loss, autograd's backward and the optimizer's own ``step``
code, and needs no formula per optimizer or per layer: what it reports is what the real step would allocate, by
the same accounting (``tests/test_projection.py`` checks the two agree on models that fit).

The forward and backward passes are run once for all optimizers: an optimizer takes part in them only through
its resident state, which they do not touch. A training step's peak is then the larger of the passes' peak plus
that state, and the optimizer step's own peak (parameters, gradients, state, its temporaries) plus whatever the
passes left alive; both are measured, each optimizer's step on the gradients the backward pass made.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import torch
from torch import Tensor, nn
from torch._subclasses.fake_tensor import FakeTensorMode
from torch.optim import Optimizer

from optbench import second_order
from optbench.memtrack import CATEGORIES, StepMemory, measure_step
from optbench.optim.factory import optimizer_about
from optbench.precision import Precision

BuildOptimizer = Callable[[nn.Module], Optimizer]  # from the model: some optimizers partition it by name


def combine(passes: StepMemory, step: StepMemory) -> StepMemory:
    """One training step from its parts: ``passes`` (forward and backward with no optimizer state resident) and
    ``step`` (the optimizer step alone, its state resident)."""
    state = step.resident["state"]
    left = {c: v for c, v in passes.resident.items() if c not in ("params", "grads")}  # alive after backward
    during_passes = passes.peak + state
    during_step = step.peak + sum(left.values())
    at_passes = {**passes.at_peak, "state": passes.at_peak["state"] + state}
    at_peak = at_passes if during_passes >= during_step else {c: step.at_peak[c] + left.get(c, 0) for c in CATEGORIES}
    resident = {c: step.resident[c] + left.get(c, 0) for c in CATEGORIES}
    return StepMemory(max(during_passes, during_step), at_peak, step.step_transient, resident, during_passes, at_passes)


def project_steps(
    build_model: Callable[[], nn.Module],
    optimizers: Mapping[str, BuildOptimizer],
    make_batch: Callable[[], tuple[Tensor, ...]],
    loss: Callable[[nn.Module, tuple[Tensor, ...]], Tensor],
    precision: Precision,
    device: torch.device | None = None,
    inspect: Callable[[str, Optimizer], None] | None = None,
    on_error: Callable[[str, Exception], None] | None = None,
) -> dict[str, StepMemory]:
    """The StepMemory of a training step once the optimizer state exists (the second step on), per optimizer,
    on fake tensors; ``inspect(name, optimizer)`` sees each optimizer after its measured step. An optimizer
    that declares ``create_graph`` (Sophia) gets passes that keep the backward graph. With ``on_error``, an
    optimizer whose step cannot run on fake tensors is reported to it and left out instead of raising. A step
    that torch.compile builds (torchao) runs eagerly here, as under ``measure_step``."""
    device = device or torch.device("cpu")
    dtype = torch.get_default_dtype()
    try:
        with FakeTensorMode(allow_non_fake_inputs=False):
            # built where and in the dtype it trains in: a fake parameter cannot be converted in place (.to)
            torch.set_default_dtype(precision.param_dtype)
            with torch.device(device):
                model = build_model()
            torch.set_default_dtype(dtype)
            with torch.device(device):
                batch = make_batch()

            measured: dict[bool, StepMemory] = {}  # per create_graph
            current = [None]  # the kind of gradients the parameters hold now

            def passes_for(create_graph: bool) -> StepMemory:
                """Measured passes of this kind; the gradients are made again when the last ones were the other
                kind (each measured once)."""

                def passes() -> None:
                    for p in model.parameters():
                        p.grad = None
                    with second_order.passes_for(create_graph):
                        with precision.autocast(device):
                            value = loss(model, batch)
                        value.backward(create_graph=create_graph)

                if create_graph not in measured:
                    measured[create_graph] = measure_step(passes, model, None, device)
                elif current[0] != create_graph:
                    passes()
                current[0] = create_graph
                return measured[create_graph]

            out = {}
            for name, build_optimizer in optimizers.items():
                try:
                    optimizer = build_optimizer(model)
                    measured_passes = passes_for(optimizer_about(optimizer).create_graph)
                    with torch.compiler.set_stance("force_eager"):
                        optimizer.step()  # the first step creates the state
                    out[name] = combine(measured_passes, measure_step(optimizer.step, model, optimizer, device))
                except Exception as exc:  # noqa: BLE001 - one optimizer's failure leaves the others' projections
                    if on_error is None:
                        raise
                    on_error(name, exc)
                    continue
                if inspect is not None:
                    inspect(name, optimizer)
                del optimizer
            return out
    finally:
        torch.set_default_dtype(dtype)


def project_step(
    build_model: Callable[[], nn.Module],
    build_optimizer: BuildOptimizer,
    make_batch: Callable[[], tuple[Tensor, ...]],
    loss: Callable[[nn.Module, tuple[Tensor, ...]], Tensor],
    precision: Precision,
    device: torch.device | None = None,
) -> StepMemory:
    """``project_steps`` for one optimizer."""
    return project_steps(build_model, {"": build_optimizer}, make_batch, loss, precision, device)[""]
