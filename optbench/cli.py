"""The `optbench` command: a Hydra app. `optbench key=value ...` runs one job, `optbench -m a=x,y` a sweep."""

from __future__ import annotations

import sys

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig

from optbench.errors import OptbenchError
from optbench.paths import config_dir


@hydra.main(version_base="1.3", config_path=str(config_dir()), config_name="config")
def app(cfg: DictConfig) -> float | None:
    from optbench.runner import run  # imported here so `optbench --help` stays fast

    hydra_cfg = HydraConfig.get()
    try:
        summary = run(cfg, output_dir=hydra_cfg.runtime.output_dir)
    except OptbenchError as exc:
        print(f"optbench: error: {exc}", file=sys.stderr, flush=True)
        sys.exit(2)
    if summary["status"] == "failed" and hydra_cfg.mode != RunMode.MULTIRUN:
        sys.exit(1)
    return summary.get("final_metric")  # lets sweepers (e.g. Optuna) optimise the headline metric


def main() -> None:
    app()


if __name__ == "__main__":
    main()
