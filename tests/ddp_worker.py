"""Run under torchrun by tests/test_distributed.py: the deterministic float64 task with distributed=ddp, once
per (accumulate, batch size) given on the command line, each run's final weights kept in its record."""

from __future__ import annotations

import sys
from pathlib import Path

from omegaconf import OmegaConf

from optbench import runner
from tests.conftest import compose_config
from tests.det_task import config as det_config

if __name__ == "__main__":
    out = Path(sys.argv[1])
    for spec in sys.argv[2:]:
        nan_rank = spec.split("nan")[1] if "nan" in spec else None  # e.g. 1x24nan1: rank 1's loss turns NaN
        zero = spec.endswith("zero")  # e.g. 1x24zero: the optimizer state sharded (ZeRO-1)
        fsdp = spec.endswith("fsdp")  # e.g. 2x12fsdp: parameters, gradients and state sharded (FSDP2)
        k, batch = (int(v) for v in spec.split("nan")[0].removesuffix("zero").removesuffix("fsdp").split("x"))
        overrides = ["task=rosenbrock", "optimizer=adam", f"accumulate={k}", "save_model=true", "distributed=ddp"]
        sharding = [f"distributed.shard_optimizer_state={zero}", f"distributed.fully_shard={fsdp}"]
        cfg = compose_config([*overrides, *sharding], out / spec)
        OmegaConf.set_struct(cfg, False)
        cfg.task = det_config(batch)
        cfg.task.nan_on_rank = None if nan_rank is None else int(nan_rank)
        runner.run(cfg)
