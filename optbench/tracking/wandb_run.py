"""Weights & Biases logging that never takes a run down: a failure warns once and the local store carries on.

A run's W&B history holds what it measures over time: ``train/*`` (loss, lr, throughput, the step's time split,
memory) against ``train/step``, the optimizer step, and ``eval/*`` against ``eval/step``, the optimizer step of that
evaluation. Summaries keep the best value in the task's direction (``min`` for a loss or a lower-is-better metric,
``max`` otherwise); strings (the sacreBLEU signature) and the final test scores go to the summary, never into
history. At the end the run's store record (config, summary, metrics) is logged as an artifact of type
``run-record``, so a W&B project alone rebuilds the store (``optbench-report source=wandb``).
"""

from __future__ import annotations

import logging
import math
import os
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

RECORD_ARTIFACT_TYPE = "run-record"
RECORD_FILES = ("config.json", "summary.json", "metrics.parquet")


def record_artifact_name(run_id: str) -> str:
    return f"record-{run_id}"


def _logged_in(settings: Any) -> bool:
    """Whether W&B has credentials for its server (an API key in the environment or the netrc `wandb login`
    wrote)."""
    if os.environ.get("WANDB_API_KEY"):
        return True
    from wandb.sdk.lib.wbauth import wbnetrc  # private: the one place optbench reads W&B's credentials

    return bool(wbnetrc.read_netrc_auth(host=settings.base_url))


def resolve_mode(configured: str | None) -> tuple[str, str]:
    """(W&B mode, where it came from): ``logger.mode`` when set; else W&B's own setting (``WANDB_MODE``, or the
    settings file ``wandb offline`` / ``wandb disabled`` write); else online for a user who is logged in and
    offline for one who never logged in."""
    if configured:
        return str(configured), "logger.mode"
    if os.environ.get("WANDB_MODE"):
        return os.environ["WANDB_MODE"], "WANDB_MODE"
    try:
        import wandb

        settings = wandb.setup().settings
        mode = settings.read_system_settings().all().get("mode")
        if mode:
            return mode, "W&B settings file (wandb offline / wandb disabled)"
        if _logged_in(settings):
            return "online", "logged in to W&B (wandb login)"
    except Exception as exc:  # noqa: BLE001 - an unreadable W&B setup logs offline
        log.debug("could not read W&B's settings: %s", exc)
    return "offline", "default: not logged in to W&B"


def history_row(split: str, row: dict[str, Any], step: int) -> tuple[dict[str, float], dict[str, str]]:
    """(numbers for the history under ``<split>/``, with the ``<split>/step`` they plot against; strings for the
    summary)."""
    numbers: dict[str, float] = {f"{split}/step": step}
    strings: dict[str, str] = {}
    for key, value in row.items():
        if key in ("split", "step"):
            continue
        if isinstance(value, bool):
            numbers[f"{split}/{key}"] = int(value)
        elif isinstance(value, (int, float)):
            numbers[f"{split}/{key}"] = value  # a diverged (inf or nan) loss included
        elif isinstance(value, str):
            strings[f"{split}/{key}"] = value
    return numbers, strings


# Set when an online W&B server did not answer in this process: later runs log offline at once instead of waiting.
_online_unreachable = False


def _nan(value: Any) -> bool:
    return isinstance(value, float) and math.isnan(value)


class WandbRun:
    """One W&B run, or nothing when W&B is disabled or fails (each failure warns once; the store is unaffected)."""

    def __init__(
        self,
        logger_cfg: dict,
        *,
        name: str,
        group: str,
        job_type: str,
        tags: list[str],
        config: dict,
        metric: str | None = None,
        higher_is_better: bool = True,
    ) -> None:
        global _online_unreachable
        self.run = None
        self.dir: str | None = None
        self.name = name
        if not logger_cfg.get("enabled", True) or logger_cfg.get("mode") == "disabled":
            return
        mode, source = resolve_mode(logger_cfg.get("mode"))
        if mode == "disabled":
            log.info("W&B is disabled (%s)", source)
            return
        if mode == "online" and _online_unreachable:
            mode = "offline"
        try:
            import wandb

            os.makedirs(logger_cfg["dir"], exist_ok=True)

            def init(mode: Any):
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
            self._define_metrics(metric, higher_is_better)
        except Exception as exc:  # noqa: BLE001 - any W&B failure must leave the run going
            self._fail("start", exc)

    def _define_metrics(self, metric: str | None, higher: bool) -> None:
        """train/* against the optimizer step, eval/* against their own step; best-value summaries in the task's
        direction."""
        run = self.run
        assert run is not None
        for split in ("train", "eval"):
            run.define_metric(f"{split}/step")
            run.define_metric(f"{split}/*", step_metric=f"{split}/step")
        run.define_metric("train/loss", step_metric="train/step", summary="min,last")
        run.define_metric("eval/loss", step_metric="eval/step", summary="min,last")
        if metric and metric != "loss":
            run.define_metric(f"eval/{metric}", step_metric="eval/step", summary=("max" if higher else "min") + ",last")

    def _fail(self, what: str, exc: Exception) -> None:
        log.warning(
            "W&B failed to %s (%s: %s); the run continues and its local store record is complete.",
            what,
            type(exc).__name__,
            exc,
        )
        self.run = None

    def log(self, split: str, row: dict[str, Any], step: int) -> None:
        """One row of the run's measurements: numbers to the history (``<split>/<key>``), strings to the
        summary. The final test scores go to the summary only."""
        if self.run is None:
            return
        try:
            numbers, strings = history_row(split, row, step)
            if split == "test":
                self.run.summary.update({**numbers, **strings})
                return
            self.run.log(numbers)
            if strings:
                self.run.summary.update(strings)
        except Exception as exc:  # noqa: BLE001
            self._fail("log", exc)

    def finish(self, summary: dict[str, Any], record_dir: str | Path | None = None) -> None:
        """The run's summary, its store record as a ``run-record`` artifact, and an exit code that says whether
        it finished (0) or diverged, failed or was interrupted (1)."""
        if self.run is None:
            return
        try:
            # no value for a score the run has not got (a diverged run's final metric): a W&B sweep ranks what is
            # logged, and a NaN must never be ranked
            self.run.summary.update({k: v for k, v in summary.items() if v is not None and not _nan(v)})
            if record_dir is not None and all((Path(record_dir) / f).is_file() for f in RECORD_FILES):
                import wandb

                artifact = wandb.Artifact(
                    record_artifact_name(self.name),
                    type=RECORD_ARTIFACT_TYPE,
                    description="optbench store record: config.json, summary.json, metrics.parquet",
                    metadata={"run_id": self.name},
                )
                for name in RECORD_FILES:
                    artifact.add_file(str(Path(record_dir) / name), name=name)
                self.run.log_artifact(artifact)
            self.run.finish(exit_code=0 if summary.get("status") == "finished" else 1)
        except Exception as exc:  # noqa: BLE001
            self._fail("finish", exc)
