"""Progress on long work, as a terminal and as a log file want it.

On a terminal: a tqdm bar, with log lines printed above it (``logging_redirect_tqdm``), never through it. In a pipe,
a file or a SLURM log (stderr is not a TTY): one plain line every ``OPTBENCH_PROGRESS_EVERY`` seconds (30 by
default) and one at the end, instead of a bar's carriage returns or a silent wait.

A sweep's jobs say where they are ("job 3/16"): the sweeper or the summary callback writes the number of jobs it
plans into the sweep folder (``.optbench_jobs``), so every job finds it, whichever process or node runs it; jobs
skipped because the store already holds them count like the others.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm
from tqdm.contrib.logging import logging_redirect_tqdm

log = logging.getLogger("optbench.progress")

EVERY_ENV = "OPTBENCH_PROGRESS_EVERY"
DEFAULT_EVERY_S = 30.0
PLANNED_FILE = ".optbench_jobs"


def interval_s() -> float:
    try:
        return max(0.0, float(os.environ.get(EVERY_ENV, DEFAULT_EVERY_S)))
    except ValueError:
        return DEFAULT_EVERY_S


def on_terminal() -> bool:
    return sys.stderr.isatty()


class LineProgress:
    """tqdm's update / set_postfix / close, written as one log line per interval."""

    def __init__(
        self, total: int | None, desc: str, unit: str, every_s: float | None = None, final_line: bool = True
    ) -> None:
        self.total, self.desc, self.unit, self.final_line = total, desc, unit, final_line
        self.lines = 0
        self.every_s = interval_s() if every_s is None else every_s
        self.n, self.postfix = 0, ""
        self.start = self.last = time.monotonic()
        self.closed = False

    def update(self, n: int = 1) -> None:
        self.n += n
        now = time.monotonic()
        if now - self.last >= self.every_s and (self.total is None or self.n < self.total):
            self.last = now
            self._line(now)

    def set_postfix(self, refresh: bool = False, **values: Any) -> None:
        self.postfix = ", ".join(f"{k}={v}" for k, v in values.items())

    def _line(self, now: float) -> None:
        elapsed = now - self.start
        if self.total:
            done = f"{self.n}/{self.total} {self.unit}s ({100 * self.n / self.total:.0f}%)"
            left = f", ~{elapsed / self.n * (self.total - self.n):.0f} s left" if 0 < self.n < self.total else ""
        else:
            done, left = f"{self.n} {self.unit}s", ""
        log.info("%s: %s, %.0f s%s%s", self.desc, done, elapsed, left, f", {self.postfix}" if self.postfix else "")
        self.lines += 1

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            if self.n and (self.final_line or self.lines):  # work that took under one interval stays quiet
                self._line(time.monotonic())


def bar(total: int | None, desc: str, unit: str = "step", final_line: bool = True):
    """A progress object with tqdm's interface: a bar on a terminal, periodic log lines elsewhere (and a closing
    one, unless ``final_line`` is false and the work ended within the first interval)."""
    if on_terminal():
        return tqdm(total=total, desc=desc, unit=unit, dynamic_ncols=True, leave=final_line)
    return LineProgress(total, desc, unit, final_line=final_line)


@contextlib.contextmanager
def progress(total: int | None, desc: str, unit: str = "step", final_line: bool = True) -> Iterator[Any]:
    """``with progress(n, "training") as p: ... p.update()``; log lines inside go above a terminal bar."""
    p = bar(total, desc, unit, final_line)
    try:
        if isinstance(p, LineProgress):
            yield p
        else:
            with logging_redirect_tqdm():
                yield p
    finally:
        p.close()


def track(items: Iterable, desc: str, total: int | None = None, unit: str = "item", min_items: int = 1) -> Iterator:
    """Iterate ``items`` with progress shown (nothing when there are fewer than ``min_items``)."""
    if total is None and hasattr(items, "__len__"):
        total = len(items)  # type: ignore[arg-type]
    if total is not None and total < min_items:
        yield from items
        return
    with progress(total, desc, unit, final_line=False) as p:
        for item in items:
            yield item
            p.update(1)


def plan_jobs(sweep_dir: str | os.PathLike, total: int) -> None:
    """Record how many jobs a sweep plans (a tuning sweep raises it when it grows a grid)."""
    Path(sweep_dir).mkdir(parents=True, exist_ok=True)
    Path(sweep_dir, PLANNED_FILE).write_text(f"{int(total)}\n")


def job_position() -> str | None:
    """'3/16' for the fourth job of a 16-job sweep ('3' when the total is unknown); None outside a sweep."""
    try:
        from hydra.core.hydra_config import HydraConfig
        from hydra.types import RunMode

        hc = HydraConfig.get()
    except (ImportError, ValueError):
        return None
    if hc.mode != RunMode.MULTIRUN or getattr(hc.job, "num", None) is None:
        return None
    k = int(hc.job.num) + 1
    try:
        total = int(Path(hc.sweep.dir, PLANNED_FILE).read_text())
    except (OSError, ValueError):
        return f"{k}"
    return f"{k}/{max(total, k)}"
