"""The `optbench` command: a Hydra app. `optbench key=value ...` runs one job, `optbench -m a=x,y` a sweep."""

from __future__ import annotations

import importlib.util
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

# launcher choice -> (plugin module, pip extra)
LAUNCHER_PLUGINS = {
    "joblib": ("hydra_plugins.hydra_joblib_launcher", "joblib"),
    "parallel": ("hydra_plugins.hydra_joblib_launcher", "joblib"),
    "submitit_local": ("hydra_plugins.hydra_submitit_launcher", "slurm"),
    "submitit_slurm": ("hydra_plugins.hydra_submitit_launcher", "slurm"),
    "local_submitit": ("hydra_plugins.hydra_submitit_launcher", "slurm"),
    "slurm": ("hydra_plugins.hydra_submitit_launcher", "slurm"),
}


def missing_launcher_plugin(argv: list[str]) -> str | None:
    """An install hint when the command line asks for a launcher whose plugin is not installed."""
    for arg in argv:
        if arg.startswith("hydra/launcher="):
            choice = arg.split("=", 1)[1]
            module, extra = LAUNCHER_PLUGINS.get(choice, (None, None))
            if module and importlib.util.find_spec(module) is None:
                return (
                    f"hydra/launcher={choice} needs a Hydra launcher plugin that is not installed: "
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


@hydra.main(version_base="1.3", config_path=str(config_dir()), config_name="config")
def app(cfg: DictConfig) -> float | None:
    from optbench.runner import run  # imported here so `optbench --help` stays fast

    hydra_cfg = HydraConfig.get()
    if cfg.threads is None:
        cfg.threads = launcher_threads(hydra_cfg.launcher)
    watch_parent(hydra_cfg.launcher)
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
    # sweepers (tuning, Optuna) optimise the headline metric, or the summary key `tune_metric` names
    return summary.get(cfg.get("tune_metric") or "final_metric")


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


def main() -> None:
    hint = missing_launcher_plugin(sys.argv[1:])
    if hint:
        print(f"optbench: error: {hint}", file=sys.stderr)
        sys.exit(2)
    os.environ[MAIN_PID_ENV] = str(os.getpid())  # inherited by a parallel launcher's workers
    try:
        app()
    except KeyboardInterrupt:  # between jobs of a sweep, or while Hydra composes
        print("optbench: interrupted; finished runs are kept in the store.", file=sys.stderr)
        sys.exit(130)


if __name__ == "__main__":
    main()
