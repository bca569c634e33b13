"""Passes that a second-order optimizer differentiates twice (``about.create_graph``: Sophia's Hessian-vector
products): attention must run through a kernel whose backward is itself differentiable.

``scaled_dot_product_attention`` picks a fused kernel by default (on the CPU its flash kernel), and the backward of
the fused kernels has no derivative ("derivative for aten::_scaled_dot_product_flash_attention_for_cpu_backward is
not implemented"). The math kernel is built of ordinary differentiable operations and computes the same attention,
so the passes of such an optimizer run under it; other optimizers keep the task's own choice.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from torch.nn.attention import SDPBackend, sdpa_kernel


@contextlib.contextmanager
def passes_for(create_graph: bool) -> Iterator[None]:
    """The forward and backward passes of one step: under SDPA's math kernel when the backward keeps its graph."""
    if not create_graph:
        yield
        return
    with sdpa_kernel([SDPBackend.MATH]):
        yield
