"""OmegaConf resolvers that optbench's configs use, registered once before Hydra composes a config.

- ``${optbench.direction:${task},${tune_metric}}``: "maximize" or "minimize", the way the score a sweeper ranks by
  points (the task's headline metric, or a ``tune_metric`` loss: lower; for ``hparams_search=optuna``).
- ``${optbench.log_interval:${optimizer.lr},0.01,10}``: an Optuna search range "tag(log, interval(lo, hi))" from
  ``lr x 0.01`` to ``lr x 10``, around the optimizer's default lr on the task.
- ``${optbench.study_store:${hydra:runtime.cwd},adafactor_table2,${task.name},[transformer_mt]}``: where a named
  experiment's runs go: its committed study's store (``results/<study>/store``) for the tasks the study is made
  of, the user's own store (``results/store``) for any other task, so that trying an experiment on another task
  (``task=transformer_mt_tiny``) never writes into a committed study.
"""

from __future__ import annotations

from omegaconf import OmegaConf

from optbench.ranking import higher_is_better, score_direction


def direction(task, tune_metric: str | None = None) -> str:
    return "maximize" if score_direction(tune_metric, higher_is_better(task)) else "minimize"


def log_interval(value: float, low_factor: float, high_factor: float) -> str:
    value = float(value)
    return f"tag(log, interval({value * float(low_factor):.6g}, {value * float(high_factor):.6g}))"


def study_store(cwd: str, study: str, task: str, tasks) -> str:
    return f"{cwd}/results/{study}/store" if task in list(tasks) else f"{cwd}/results/store"


def register() -> None:
    """Idempotent: safe to call from every entry point (the command, the Python API, tests)."""
    for name, fn in (
        ("optbench.direction", direction),
        ("optbench.log_interval", log_interval),
        ("optbench.study_store", study_store),
    ):
        if not OmegaConf.has_resolver(name):
            OmegaConf.register_new_resolver(name, fn)
