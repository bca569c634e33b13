"""The ``debug`` group's switches for one run (``conf/debug/``): autograd anomaly detection, deterministic
algorithms, and a torch profiler trace of a few steps written to the run folder.

``debug_session`` turns the switches on for the run and restores the process's previous state afterwards, so the
next job of a sequential sweep trains as it would have without them.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator
from pathlib import Path

import torch
from omegaconf import DictConfig

from optbench.errors import OptbenchError

log = logging.getLogger(__name__)

KEYS = ("name", "detect_anomaly", "deterministic", "profile")
PROFILE_KEYS = ("wait", "warmup", "active", "record_shapes", "profile_memory", "with_stack")


def validate(debug: DictConfig | None) -> None:
    """The ``debug`` block, when a ``debug=...`` choice set one."""
    if debug is None:
        return
    for key in debug:
        if key not in KEYS:
            raise OptbenchError(f"debug.{key} is not a debug switch; the switches are {', '.join(KEYS)}.")
    for key in ("detect_anomaly", "deterministic"):
        if not isinstance(debug.get(key, False), bool):
            raise OptbenchError(f"debug.{key}={debug.get(key)!r} must be true or false.")
    profile = debug.get("profile")
    if profile is None:
        return
    for key in profile:
        if key not in PROFILE_KEYS:
            raise OptbenchError(f"debug.profile.{key} is not a profiler setting; the settings are {PROFILE_KEYS}.")
    for key in ("wait", "warmup", "active"):
        value = profile.get(key)
        if not isinstance(value, int) or isinstance(value, bool) or value < (1 if key == "active" else 0):
            raise OptbenchError(
                f"debug.profile.{key}={value!r} must be a whole number of steps"
                f"{' >= 1' if key == 'active' else ' >= 0'}."
            )


class StepProfiler:
    """``torch.profiler`` over ``wait`` + ``warmup`` + ``active`` training steps, then off. The trace is a Chrome
    trace file (``<run folder>/profile/*.pt.trace.json``): open it in https://ui.perfetto.dev or with TensorBoard's
    profiler plugin (``tensorboard --logdir <run folder>/profile``)."""

    def __init__(self, settings: DictConfig, out_dir: Path, device: torch.device) -> None:
        activities = [torch.profiler.ProfilerActivity.CPU]
        if device.type == "cuda":
            activities.append(torch.profiler.ProfilerActivity.CUDA)
        self.dir = out_dir
        self.steps = settings.wait + settings.warmup + settings.active
        self._profiler = torch.profiler.profile(
            activities=activities,
            schedule=torch.profiler.schedule(wait=settings.wait, warmup=settings.warmup, active=settings.active),
            on_trace_ready=torch.profiler.tensorboard_trace_handler(str(out_dir), worker_name="optbench"),
            record_shapes=bool(settings.get("record_shapes", False)),
            profile_memory=bool(settings.get("profile_memory", False)),
            with_stack=bool(settings.get("with_stack", False)),
        )
        self._taken = 0

    def __enter__(self) -> StepProfiler:
        self._profiler.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        self._profiler.__exit__(*exc)

    def step(self) -> None:
        """Called once per optimizer step; the trace is written when the active steps are done."""
        if self._taken < self.steps:
            self._profiler.step()
            self._taken += 1
            if self._taken == self.steps:
                log.info("Profiler trace of %d steps written to %s", self.steps, self.dir)


class NoProfiler:
    def step(self) -> None:
        pass


@contextlib.contextmanager
def debug_session(debug: DictConfig | None, run_dir: str | None, device: torch.device) -> Iterator:
    """Run the body with the configured switches on; yields an object whose ``step()`` the loop calls per step."""
    if debug is None:
        yield NoProfiler()
        return
    with contextlib.ExitStack() as stack:
        if debug.get("detect_anomaly"):
            stack.enter_context(torch.autograd.set_detect_anomaly(True))
        if debug.get("deterministic"):
            stack.enter_context(_deterministic())
        profiler = NoProfiler()
        if debug.get("profile") is not None:
            out = Path(run_dir if run_dir is not None else ".") / "profile"
            profiler = stack.enter_context(StepProfiler(debug.profile, out, device))
        yield profiler


@contextlib.contextmanager
def _deterministic() -> Iterator[None]:
    """``torch.use_deterministic_algorithms(True)``: an op without a deterministic implementation raises instead of
    silently varying between runs. cuBLAS needs its workspace fixed before its first call (set here if unset)."""
    before = torch.are_deterministic_algorithms_enabled(), torch.backends.cudnn.benchmark
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.use_deterministic_algorithms(True)
    torch.backends.cudnn.benchmark = False
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(before[0])
        torch.backends.cudnn.benchmark = before[1]
