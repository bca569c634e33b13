"""Step timing: forward+backward and optimizer step, on the host clock (CPU) or CUDA events (GPU).

Only the steps the runner marks as timed are counted, so throughput excludes evaluation, logging and the first
steps (lazy state creation, allocator warm-up).
"""

from __future__ import annotations

import time

import torch


class StepTimer:
    """Accumulates forward+backward and optimizer-step seconds over timed steps."""

    def __init__(self, device: torch.device) -> None:
        self.cuda = device.type == "cuda"
        self.steps = 0
        self.units = 0  # examples or target tokens processed in timed steps
        self.fwd_bwd_s = 0.0
        self.opt_s = 0.0
        self._pending: list[tuple[object, object, object]] = []
        self._since = (0, 0, 0.0, 0.0)  # (steps, units, fwd_bwd_s, opt_s) at the last window()

    def mark(self):
        """A point in time: an event recorded on the stream (CUDA) or the host clock (CPU)."""
        if self.cuda:
            event = torch.cuda.Event(enable_timing=True)
            event.record()
            return event
        return time.perf_counter()

    def add(self, start, middle, end, units: int) -> None:
        """Book one timed step: ``start`` -> ``middle`` is forward+backward, ``middle`` -> ``end`` the step."""
        self.steps += 1
        self.units += units
        if self.cuda:
            self._pending.append((start, middle, end))
        else:
            self.fwd_bwd_s += middle - start
            self.opt_s += end - middle

    def _resolve(self) -> None:
        if self._pending:
            torch.cuda.synchronize()
            for start, middle, end in self._pending:
                self.fwd_bwd_s += start.elapsed_time(middle) / 1e3
                self.opt_s += middle.elapsed_time(end) / 1e3
            self._pending.clear()

    def window(self, unit: str) -> dict[str, float]:
        """Throughput and the step's time split over the timed steps since the last call (empty if none): what
        a run logs to its history at each record."""
        self._resolve()
        steps, units, fwd_bwd, opt = self._since
        self._since = (self.steps, self.units, self.fwd_bwd_s, self.opt_s)
        n, total = self.steps - steps, (self.fwd_bwd_s - fwd_bwd) + (self.opt_s - opt)
        if n <= 0 or total <= 0:
            return {}
        return {
            f"{unit}_per_s": (self.units - units) / total,
            "fwd_bwd_time_s": (self.fwd_bwd_s - fwd_bwd) / n,
            "opt_step_time_s": (self.opt_s - opt) / n,
        }

    def summary(self, unit: str) -> dict[str, float | int | None]:
        self._resolve()
        total = self.fwd_bwd_s + self.opt_s
        return {
            "timed_steps": self.steps,
            f"{unit}_per_s": self.units / total if total > 0 else None,
            "step_time_s": total / self.steps if self.steps else None,
            "fwd_bwd_time_s": self.fwd_bwd_s / self.steps if self.steps else None,
            "opt_step_time_s": self.opt_s / self.steps if self.steps else None,
        }
