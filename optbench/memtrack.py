"""Peak tensor memory of one training step, split by category, from PyTorch's own ``MemTracker``.

``torch.distributed._tools.mem_tracker.MemTracker`` is a ``TorchDispatchMode``: it sees every tensor an operator
creates, attributes its storage to parameters, buffers, gradients, activations (created in the forward pass),
temporaries (created in the backward pass) or optimizer state (created in ``optimizer.step``), and keeps the split
at the moment the total peaked. It works on the CPU, on CUDA and under ``FakeTensorMode``. It is a private API, so
this module is the only place optbench touches it: a change in PyTorch is fixed here.

``measure_step`` runs one training step under the tracker and returns, in bytes:

* ``peak``: the step's peak of tracked tensor memory, and ``at_peak``: its split at that moment into
  ``params``, ``grads``, ``state`` (the optimizer's resident state), ``step_temporaries`` (what the optimizer step
  allocates beyond its state; MemTracker counts both as optimizer state), ``activations`` (forward pass, saved for
  backward), ``temporaries`` (backward pass) and ``other`` (buffers, inputs);
* ``step_transient``: how far the optimizer step alone rose above what it started with, its own state included
  (torch's foreach Adam allocates a parameter-sized list of temporaries; a fused kernel does not);
* ``resident``: the split after the step (parameters, gradients and state that stay between steps).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import nn
from torch.optim import Optimizer
from torch.optim.optimizer import register_optimizer_step_post_hook, register_optimizer_step_pre_hook
from torch.utils._python_dispatch import TorchDispatchMode

CATEGORIES = ("params", "grads", "state", "step_temporaries", "activations", "temporaries", "other")


def available() -> bool:
    """Whether this torch build has the tracker (it lives in torch.distributed, absent from some builds)."""
    try:
        from torch.distributed._tools.mem_tracker import MemTracker  # noqa: F401
    except ImportError:
        return False
    return True


def _tracker_class():
    """MemTracker keeping the device-wide peak only. Stock MemTracker also updates a peak per module, checking
    every module seen so far after every operator (quadratic in depth: 58 s for one GPT-2 XL step on fake
    tensors, against 4 s untracked); optbench reads the device-wide split alone."""
    from torch.distributed._tools.mem_tracker import _TOTAL_KEY, MemTracker

    class DevicePeakTracker(MemTracker):
        def _update_peak_stats(self, peak_state) -> None:  # the device-wide half of MemTracker's own
            for dev, snap in self._curr_mem_snap.items():
                if self._peak_mem.get(dev, 0) < snap[_TOTAL_KEY]:
                    self._peak_mem[dev] = snap[_TOTAL_KEY]
                    self._peak_mem_snap[dev] = dict(snap)

        def _pre_fw_hook(self, module, inputs) -> None:
            """A module's second forward in one step (gradient accumulation's next micro-batch) starts its
            per-module stats afresh; stock MemTracker refuses it. The device-wide split is unaffected."""
            if module in self.memory_tracking and not self._mod_tracker.is_bw:
                del self.memory_tracking[module]
            super()._pre_fw_hook(module, inputs)

        def current_total(self, device: torch.device) -> int:
            """The tracked bytes on ``device`` now, without copying the snapshot."""
            return int(self._curr_mem_snap.get(device, {}).get(_TOTAL_KEY, 0))

    return DevicePeakTracker


def _split(snapshot: dict) -> dict[str, int]:
    """One device's MemTracker snapshot (keys are its reference types) as optbench's categories."""
    names = {
        "Parameter": "params",
        "Gradient": "grads",
        "Optstate": "state",
        "Activation": "activations",
        "Temp": "temporaries",
        "Buffer": "other",
        "Other": "other",
    }
    out = dict.fromkeys(CATEGORIES, 0)
    for key, value in snapshot.items():
        name = names.get(getattr(key, "value", key))
        if name is not None:
            out[name] += int(value)
    return out


@dataclass
class StepMemory:
    peak: int
    at_peak: dict[str, int]
    step_transient: int
    resident: dict[str, int] = field(default_factory=dict)
    # where a step is built from its parts (projection.combine): the forward and backward passes' own peak and its
    # categories, the optimizer state resident (the peak above may be the optimizer step's)
    passes_peak: int | None = None
    passes_at_peak: dict[str, int] = field(default_factory=dict)

    def record(self, prefix: str = "mem_") -> dict[str, int]:
        """Flat summary keys: mem_peak_bytes, mem_<category>_bytes at the peak, mem_step_transient_bytes."""
        out = {f"{prefix}peak_bytes": self.peak, f"{prefix}step_transient_bytes": self.step_transient}
        out.update({f"{prefix}{name}_bytes": value for name, value in self.at_peak.items()})
        return out


def measure_step(
    step: Callable[[], None], model: nn.Module, optimizer: Optimizer | None, device: torch.device
) -> StepMemory:
    """Run ``step()`` (zero_grad, forward, backward, optimizer.step) under the tracker; the tensors that exist
    before it (the model, the optimizer's state, gradients) are registered first, so they count from the start.
    With ``optimizer=None``, ``step`` is the forward and backward passes alone (``step_transient`` is then 0)."""
    tracker = _tracker_class()()
    tracker.track_external(model, *([optimizer] if optimizer is not None else []))

    if device.type == "cuda" and device.index is None:  # tensors made on "cuda" are on the current device
        device = torch.device("cuda", torch.cuda.current_device())

    def total() -> int:
        return tracker.current_total(device)

    window = _OptimizerWindow(optimizer, total)
    # a step torch.compile'd (torchao's low-bit Adam) cannot run under a dispatch mode: it runs eagerly here, so its
    # step temporaries are those of the eager step (an upper bound on the compiled kernel's)
    eager = torch.compiler.set_stance("force_eager")
    with warnings.catch_warnings(), eager, tracker, window:  # the window is inner: it reads the total after the tracker
        # a backward hook of a module freed since (an earlier model's) is skipped with a warning: nothing to count
        warnings.filterwarnings("ignore", message="Module is None", category=UserWarning)
        step()
    if optimizer is None:
        window.start = window.peak = 0
    peak_snapshot = tracker.get_tracker_snapshot("peak").get(device, {})
    at_peak = _split(peak_snapshot)
    resident = _split(tracker.get_tracker_snapshot("current").get(device, {}))
    extra = max(0, at_peak["state"] - resident["state"])  # created inside optimizer.step and freed by its end
    at_peak["state"] -= extra
    at_peak["step_temporaries"] = extra
    return StepMemory(
        peak=int(peak_snapshot.get("Total", 0)),
        at_peak=at_peak,
        step_transient=window.peak - window.start,
        resident=resident,
    )


class _OptimizerWindow(TorchDispatchMode):
    """The tracked total when ``optimizer.step`` starts, and its highest value after any operator inside it."""

    def __init__(self, optimizer: Optimizer, total: Callable[[], int]) -> None:
        super().__init__()
        self.optimizer, self.total = optimizer, total
        self.start = self.peak = 0
        self.inside = False
        self.handles: list = []

    def _pre(self, opt, *_) -> None:
        if opt is self.optimizer:
            self.start = self.peak = self.total()
            self.inside = True

    def _post(self, opt, *_) -> None:
        if opt is self.optimizer:
            self.peak = max(self.peak, self.total())
            self.inside = False

    def __enter__(self):
        self.handles = [register_optimizer_step_pre_hook(self._pre), register_optimizer_step_post_hook(self._post)]
        return super().__enter__()

    def __exit__(self, *exc):
        for handle in self.handles:
            handle.remove()
        return super().__exit__(*exc)

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        if self.inside:
            self.peak = max(self.peak, self.total())
        return out
