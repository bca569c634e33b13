"""Memory of one training step of a model too big to allocate: the same step as ``memtrack.measure_step``, run on
fake tensors.

Under ``torch._subclasses.fake_tensor.FakeTensorMode`` every tensor has a shape, dtype and device but no storage,
and every operator runs its shape logic only; ``MemTracker`` counts the storages those operators would allocate.
So the projection runs the model's own forward, the loss, autograd's backward and the optimizer's own ``step``
code, and needs no formula per optimizer or per layer: what it reports is what the real step would allocate, by
the same accounting (``tests/test_projection.py`` checks the two agree on models that fit).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import torch
from torch import Tensor, nn
from torch._subclasses.fake_tensor import FakeTensorMode
from torch.optim import Optimizer

from optbench.memtrack import StepMemory, measure_step
from optbench.precision import Precision


def project_step(
    build_model: Callable[[], nn.Module],
    build_optimizer: Callable[[Iterable[Tensor]], Optimizer],
    make_batch: Callable[[], tuple[Tensor, ...]],
    loss: Callable[[nn.Module, tuple[Tensor, ...]], Tensor],
    precision: Precision,
    device: torch.device | None = None,
) -> StepMemory:
    """The StepMemory of the second training step (the first creates the optimizer state), on fake tensors."""
    device = device or torch.device("cpu")
    dtype = torch.get_default_dtype()
    try:
        with FakeTensorMode(allow_non_fake_inputs=False):
            # built where and in the dtype it trains in: a fake parameter cannot be converted in place (.to)
            torch.set_default_dtype(precision.param_dtype)
            with torch.device(device):
                model = build_model()
            torch.set_default_dtype(dtype)
            optimizer = build_optimizer(model.parameters())
            with torch.device(device):
                batch = make_batch()

            def step() -> None:
                optimizer.zero_grad(set_to_none=True)
                with precision.autocast(device):
                    value = loss(model, batch)
                value.backward()
                optimizer.step()

            step()
            return measure_step(step, model, optimizer, device)
    finally:
        torch.set_default_dtype(dtype)
