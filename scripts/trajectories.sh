#!/usr/bin/env bash
# Tune every optimizer's lr on Rosenbrock and Rastrigin (final function value, log grid), rerun the best, and
# render the galleries into results/trajectories_<task>/. About 3 minutes on a 2-core CPU. The records go to
# results/trajectories_<task>/store/ (committed: the galleries re-render from them, and re-running this script
# skips every finished run).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/optbench -m experiment=trajectories task=rosenbrock,rastrigin threads=1 "$@"
for task in rosenbrock rastrigin; do
  .venv/bin/optbench-report report=trajectories filters.task=$task filters.sweep=trajectories-$task \
    store_dir=results/trajectories_$task/store
done
