"""What a notebook calls: build an optimizer by name, run one config with Hydra overrides, load a store as a frame.

    import optbench
    opt = optbench.build_optimizer("adafactor", model.parameters(), lr=1e-3)
    summary = optbench.run("task=rosenbrock", "optimizer=adam", "logger=none")
    runs = optbench.load_store("results/store")

Each goes through the same code as the ``optbench`` command: the configs in conf/, the runner, the store.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pandas as pd
import torch
from hydra import compose as hydra_compose
from hydra import initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf, open_dict

from optbench.errors import OptbenchError
from optbench.optim.factory import available_optimizers, load_optimizer_config
from optbench.optim.factory import build_optimizer as _build_from_config
from optbench.paths import config_dir
from optbench.resolvers import register as register_resolvers

# The columns of ``load_store`` that every record has, their dtype and meaning. Other columns: the other summary
# keys (see the README's "The local store") and the run's config flattened with dots (``optimizer.lr``,
# ``task.name``, ...), as stored.
COLUMNS: dict[str, tuple[str, str]] = {
    "run_id": ("string", "the record's folder name: <task>-<optimizer variant>-<config hash>"),
    "task": ("string", "task name (conf/task/<task>.yaml)"),
    "optimizer": ("string", "optimizer name (conf/optimizer/<optimizer>.yaml)"),
    "label": ("string", "optimizer with its variant switches, as reports and W&B name it"),
    "family": ("string", "optimizer family from its about block (adam, sgd, factored, ...)"),
    "sweep": ("string", "the sweep (W&B group) the run belongs to"),
    "status": ("category", "finished, diverged or failed"),
    "seed": ("Int64", "the run's seed"),
    "lr": ("float64", "peak learning rate"),
    "precision": ("category", "fp32, bf16-mixed or bf16"),
    "metric_name": ("string", "the task's headline metric (accuracy, bleu, final_value, ...)"),
    "higher_is_better": ("boolean", "the headline metric's direction"),
    "final_metric": ("float64", "headline metric at the end of training, on the test split; NaN if none"),
    "final_train_loss": ("float64", "mean training loss over the last logging window"),
    "steps": ("Int64", "optimizer steps completed"),
    "train_time_s": ("float64", "training time in seconds (evaluation, memory probes and compilation excluded)"),
    "throughput": ("float64", "training units per second (examples or tokens; see unit) over the timed steps"),
    "unit": ("string", "what throughput counts: examples or tokens"),
    "state_bytes": ("Int64", "optimizer state measured on the device, bytes"),
    "state_bytes_analytic": ("Int64", "optimizer state from its YAML's state rule, bytes"),
    "param_bytes": ("Int64", "parameters, bytes"),
    "start_time": ("datetime64 (UTC)", "when the run started"),
}


def build_optimizer(
    name: str, params: torch.nn.Module | Iterable[torch.Tensor], **overrides: Any
) -> torch.optim.Optimizer:
    """The optimizer ``conf/optimizer/<name>.yaml`` describes, over ``params`` (a model's parameters, or the model
    itself for optimizers that partition parameters by role, such as muon), with keyword overrides of its YAML
    values: ``build_optimizer("adafactor", model.parameters(), lr=1e-3, relative_step=False)``."""
    if name not in available_optimizers():
        raise OptbenchError(f"optimizer {name!r} is not one of optbench's: {', '.join(available_optimizers())}.")
    cfg = load_optimizer_config(name)
    for key, value in overrides.items():
        if key not in cfg:
            with open_dict(cfg):
                cfg[key] = value  # the constructor decides whether it takes the key (and says so if not)
        else:
            cfg[key] = value
    return _build_from_config(cfg, params)


def compose(*overrides: str) -> DictConfig:
    """The config ``optbench <overrides>`` would run (its ``hydra`` node included), without running it."""
    register_resolvers()
    if GlobalHydra.instance().is_initialized():
        GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(config_dir()), version_base="1.3", job_name="optbench"):
        return hydra_compose("config", overrides=list(overrides), return_hydra_config=True)


def run(*overrides: str, output_dir: str | os.PathLike | None = None) -> dict[str, Any]:
    """Train and evaluate one config, as ``optbench <overrides>`` does from the current folder; return the run's
    summary (with ``record_dir``). The run folder is ``output_dir``, or ``outputs/runs/<date>/<time>`` as on the
    command line. Bad settings raise ``optbench.OptbenchError`` before any training starts."""
    from optbench.runner import run as run_config

    cfg = compose(*overrides)
    if any(o.lstrip("+").startswith(("hparams_search=", "hydra/sweeper=", "hydra/launcher=")) for o in overrides):
        raise OptbenchError("optbench.run runs one config; launch sweeps with the command: optbench -m ...")
    out = Path(output_dir if output_dir is not None else cfg.hydra.run.dir).absolute()
    with open_dict(cfg):
        cfg.hydra.runtime.output_dir = str(out)
        cfg.hydra.runtime.cwd = os.getcwd()
    HydraConfig.instance().set_config(cfg)  # what ${hydra:runtime.output_dir} and ${hydra:runtime.cwd} read
    with open_dict(cfg):
        del cfg["hydra"]
    out.mkdir(parents=True, exist_ok=True)
    OmegaConf.save(cfg, out / "config.yaml")
    return run_config(cfg, output_dir=str(out))


def load_store(store_dir: str | os.PathLike = "results/store", metrics: bool = False) -> pd.DataFrame:
    """One row per readable record in a store, the columns of ``COLUMNS`` with their dtypes first (missing ones
    filled with NA), then every other summary key and the config flattened with dots. ``metrics=True`` returns the
    per-step rows instead (train, eval and test splits, with ``run_id``)."""
    from optbench.tracking.store import load_metrics, load_summaries

    if not Path(store_dir, "runs").is_dir():
        raise OptbenchError(f"{store_dir} is not an optbench store (it has no runs/ folder).")
    if metrics:
        return load_metrics(store_dir)
    frame = load_summaries(store_dir)
    for column, (dtype, _) in COLUMNS.items():
        if column not in frame:
            frame[column] = pd.NA
        if dtype.startswith("datetime"):
            frame[column] = pd.to_datetime(frame[column], utc=True)
        else:
            frame[column] = frame[column].astype(dtype)
    rest = [c for c in frame.columns if c not in COLUMNS]
    return frame[[*COLUMNS, *rest]]
