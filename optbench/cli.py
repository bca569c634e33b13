"""The `optbench` command: a Hydra app. `optbench key=value ...` runs one job, `optbench -m a=x,y` a sweep."""

from __future__ import annotations

import importlib.util
import logging
import math
import os
import sys
import threading
import time

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig

from optbench.errors import OptbenchError
from optbench.paths import config_dir
from optbench.resolvers import register as register_resolvers
from optbench.values import plain_dict

# (config group, choice) -> (the Hydra plugin module it needs, the pip extra that installs it)
PLUGINS = {
    **{
        ("hydra/launcher", choice): (module, extra)
        for choice, (module, extra) in {
            "joblib": ("hydra_plugins.hydra_joblib_launcher", "joblib"),
            "parallel": ("hydra_plugins.hydra_joblib_launcher", "joblib"),
            "submitit_local": ("hydra_plugins.hydra_submitit_launcher", "slurm"),
            "submitit_slurm": ("hydra_plugins.hydra_submitit_launcher", "slurm"),
            "local_submitit": ("hydra_plugins.hydra_submitit_launcher", "slurm"),
            "slurm": ("hydra_plugins.hydra_submitit_launcher", "slurm"),
        }.items()
    },
    ("hparams_search", "optuna"): ("hydra_plugins.hydra_optuna_sweeper", "optuna"),
    ("hydra/sweeper", "optuna"): ("hydra_plugins.hydra_optuna_sweeper", "optuna"),
}


def missing_plugin(argv: list[str]) -> str | None:
    """An install hint when the command line picks a launcher or sweeper whose Hydra plugin is not installed."""
    for arg in argv:
        group, _, choice = arg.partition("=")
        module, extra = PLUGINS.get((group, choice), (None, None))
        if module and importlib.util.find_spec(module) is None:
            return (
                f"{arg} needs a Hydra plugin that is not installed: "
                f"pip install 'optbench[{extra}]' (or pip install -e '.[{extra}]' in a checkout)."
            )
    return None


def launcher_threads(launcher: DictConfig) -> int | None:
    """torch threads per job so that parallel jobs x threads does not oversubscribe the machine's cores."""
    cpus = os.cpu_count() or 1
    if launcher.get("cpus_per_task"):
        return int(launcher.cpus_per_task)
    n_jobs = launcher.get("n_jobs")
    if n_jobs:
        jobs = cpus if n_jobs < 0 else min(int(n_jobs), cpus)
        return max(1, cpus // jobs)
    return None


register_resolvers()


@hydra.main(version_base="1.3", config_path=str(config_dir()), config_name="config")
def app(cfg: DictConfig) -> float | None:
    from optbench.runner import run  # imported here so `optbench --help` stays fast

    hydra_cfg = HydraConfig.get()
    if cfg.threads is None:
        cfg.threads = launcher_threads(hydra_cfg.launcher)
    watch_parent(hydra_cfg.launcher)
    if int(os.environ.get("RANK", "0") or 0) > 0:  # a data-parallel run's other ranks: rank 0 speaks for the run
        logging.getLogger("optbench").setLevel(logging.WARNING)
    try:
        summary = run(cfg, output_dir=hydra_cfg.runtime.output_dir)
    except OptbenchError as exc:
        print(f"optbench: error: {exc}", file=sys.stderr, flush=True)
        sys.exit(2)
    except KeyboardInterrupt:
        print("optbench: interrupted; this run left nothing in the store (finished runs are kept).", file=sys.stderr)
        sys.exit(130)
    if summary["status"] == "failed" and hydra_cfg.mode != RunMode.MULTIRUN:
        sys.exit(1)
    return sweep_score(summary, cfg)


def sweep_score(summary: dict, cfg: DictConfig) -> float:
    """What a sweeper (tuning, Optuna) ranks this run by: the summary key ``tune_metric`` names (the headline
    metric by default). A run without a finite one (diverged, failed) gets the worst value in the score's
    direction (-inf where higher is better, +inf where lower is), so it never wins; not NaN, which Optuna cannot
    record (its sweeper stops the whole study on a NaN objective)."""
    from optbench.ranking import higher_is_better, score_direction

    value = summary.get(cfg.get("tune_metric") or "final_metric")
    if isinstance(value, (int, float)) and math.isfinite(value):
        return float(value)
    return -math.inf if score_direction(cfg.get("tune_metric"), higher_is_better(cfg.task)) else math.inf


MAIN_PID_ENV = "OPTBENCH_MAIN_PID"
_watching = False


def watch_parent(launcher: DictConfig) -> None:
    """In a parallel launcher's worker process: exit as soon as the optbench process that started the sweep is gone
    (e.g. after kill -9), instead of training on for minutes. Its unfinished record never reaches the store."""
    global _watching
    main_pid = int(os.environ.get(MAIN_PID_ENV, 0) or 0)
    if _watching or not main_pid or main_pid == os.getpid() or "joblib" not in str(launcher.get("_target_", "")):
        return
    _watching = True

    def watch() -> None:
        while True:
            time.sleep(1.0)
            try:
                os.kill(main_pid, 0)
            except (ProcessLookupError, PermissionError):  # gone (or the pid now belongs to another user)
                os._exit(1)

    threading.Thread(target=watch, name="optbench-parent-watch", daemon=True).start()


def optional_groups() -> set[str]:
    """The config groups that conf/config.yaml lists with a null default (experiment, wrapper, debug, ...)."""
    from omegaconf import OmegaConf

    defaults = plain_dict(OmegaConf.load(config_dir() / "config.yaml"), resolve=False)["defaults"]
    return {str(k) for item in defaults if isinstance(item, dict) for k, v in item.items() if v is None}


def drop_plus_on_optional_groups(argv: list[str]) -> list[str]:
    """``+experiment=tune`` (the spelling before these groups had a null default) means ``experiment=tune``; Hydra
    would refuse it because the group is already in the defaults list."""
    groups = optional_groups()
    return [a[1:] if a.startswith("+") and "=" in a and a[1:].split("=", 1)[0] in groups else a for a in argv]


def print_version_and_exit(program: str) -> None:
    """``--version`` (Hydra's own argument parser has no such flag)."""
    if "--version" in sys.argv[1:] or "-V" in sys.argv[1:]:
        from optbench import __version__

        print(f"{program} {__version__}")
        sys.exit(0)


def main() -> None:
    print_version_and_exit("optbench")
    sys.argv[1:] = drop_plus_on_optional_groups(sys.argv[1:])
    hint = missing_plugin(sys.argv[1:])
    if hint:
        print(f"optbench: error: {hint}", file=sys.stderr)
        sys.exit(2)
    os.environ[MAIN_PID_ENV] = str(os.getpid())  # inherited by a parallel launcher's workers
    try:
        app()
    except KeyboardInterrupt:  # between jobs of a sweep, or while Hydra composes
        print("optbench: interrupted; finished runs are kept in the store.", file=sys.stderr)
        sys.exit(130)
    from optbench.tracking.summary import FAILED

    if FAILED["runs"]:  # a sweep with failed runs (listed after its table)
        sys.exit(1)


if __name__ == "__main__":
    main()
