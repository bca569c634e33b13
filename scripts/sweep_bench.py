"""Wall time of one 8-config sweep (the eight optimizers on the MNIST MLP) run sequentially and with the joblib
launcher (2 jobs, 1 torch thread each), side by side in fresh stores; prints both and their ratio.

    python scripts/sweep_bench.py [--steps 200]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

OPTIMIZERS = "sgd,momentum,adagrad,rmsprop,adam,adamw,adafactor,adax"


def sweep(extra: list[str], steps: int, data_root: str) -> float:
    with tempfile.TemporaryDirectory(prefix="optbench-sweep-") as tmp:
        cmd = [
            sys.executable,
            "-m",
            "optbench",
            "-m",
            f"optimizer={OPTIMIZERS}",
            f"task.max_steps={steps}",
            f"data_root={data_root}",
            "logger=none",
            *extra,
        ]
        env = {**os.environ, "WANDB_MODE": "disabled"}
        env.pop("OPTBENCH_STORE", None)
        start = time.perf_counter()
        subprocess.run(cmd, cwd=tmp, env=env, check=True, capture_output=True)
        elapsed = time.perf_counter() - start
        finished = len(list(Path(tmp, "results/store/runs").glob("*/summary.json")))
        assert finished == 8, f"expected 8 records, found {finished}"
        return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=200, help="training steps per run")
    args = parser.parse_args()
    data_root = os.environ.get("OPTBENCH_DATA") or str(Path(__file__).resolve().parents[2] / "shared" / "data")
    print(f"8 configs (MNIST MLP, {args.steps} steps each), {os.cpu_count()} cores")
    sequential = sweep([], args.steps, data_root)
    print(f"  sequential (basic launcher, torch default threads): {sequential:.1f} s")
    parallel = sweep(["hydra/launcher=parallel", "hydra.launcher.n_jobs=2"], args.steps, data_root)
    print(f"  joblib launcher, 2 jobs x 1 thread:                  {parallel:.1f} s")
    print(f"  ratio sequential / parallel = {sequential / parallel:.2f}x")


if __name__ == "__main__":
    main()
