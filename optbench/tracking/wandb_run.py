"""Weights & Biases logging that never takes a run down: a failure warns once and the local store carries on."""

from __future__ import annotations

import logging
import os
from typing import Any

log = logging.getLogger(__name__)


# Set when an online W&B server did not answer in this process: later runs log offline at once instead of waiting.
_online_unreachable = False


class WandbRun:
    def __init__(
        self, logger_cfg: dict, *, name: str, group: str, job_type: str, tags: list[str], config: dict
    ) -> None:
        global _online_unreachable
        self.run = None
        self.dir: str | None = None
        if not logger_cfg.get("enabled", True) or logger_cfg.get("mode") == "disabled":
            return
        mode = logger_cfg.get("mode", "offline")
        if mode == "online" and _online_unreachable:
            mode = "offline"
        try:
            import wandb

            os.makedirs(logger_cfg["dir"], exist_ok=True)

            def init(mode: str):
                return wandb.init(
                    project=logger_cfg.get("project", "optbench"),
                    entity=logger_cfg.get("entity"),
                    mode=mode,
                    dir=logger_cfg["dir"],
                    name=name,
                    group=group,
                    job_type=job_type,
                    tags=tags,
                    config=config,
                    reinit="finish_previous",
                    # the background system-metrics sampler competes with training for CPU: opt-in only
                    settings=wandb.Settings(
                        silent=True,
                        console="off",
                        x_disable_stats=not logger_cfg.get("system_stats", False),
                        init_timeout=float(logger_cfg.get("init_timeout", 15)),
                    ),
                )

            try:
                self.run = init(mode)
            except Exception as exc:  # noqa: BLE001 - unreachable server, bad key: log offline, sync later
                if mode != "online":
                    raise
                _online_unreachable = True
                log.warning(
                    "W&B could not start an online run (%s: %s); this and the following runs of this process log "
                    "offline, to be uploaded later with `wandb sync`.",
                    type(exc).__name__,
                    str(exc).splitlines()[0] if str(exc) else "",
                )
                self.run = init("offline")
            self.dir = os.path.dirname(self.run.dir)  # .../wandb/offline-run-<time>-<id>
        except Exception as exc:  # noqa: BLE001 - any W&B failure must leave the run going
            self._fail("start", exc)

    def _fail(self, what: str, exc: Exception) -> None:
        log.warning(
            "W&B failed to %s (%s: %s); the run continues and its local store record is complete.",
            what,
            type(exc).__name__,
            exc,
        )
        self.run = None

    def log(self, row: dict[str, Any], step: int) -> None:
        if self.run is None:
            return
        try:
            self.run.log(row, step=step)
        except Exception as exc:  # noqa: BLE001
            self._fail("log", exc)

    def finish(self, summary: dict[str, Any]) -> None:
        if self.run is None:
            return
        try:
            self.run.summary.update({k: v for k, v in summary.items() if v is not None})
            self.run.finish(exit_code=0 if summary.get("status") == "finished" else 1)
        except Exception as exc:  # noqa: BLE001
            self._fail("finish", exc)
