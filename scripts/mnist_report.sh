#!/usr/bin/env bash
# Regenerate results/mnist_mlp/: the optimizer shootout on the MNIST MLP (5-point lr grid around each optimizer's
# tuned lr on seed 0, grown past an end that holds the best, then the best lr on seeds 0, 1, 2; one epoch each, test
# accuracy every 100 steps; about 35 minutes for the 26 optimizers on a 2-core CPU), then the comparison figures
# and tables, then results/memory/ (about 15 more). The records go to results/mnist_mlp/store/ (committed: the
# reports re-render from them, and re-running this script skips every finished run). Extra arguments are Hydra
# overrides.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
if [ -z "${OPTBENCH_DATA:-}" ] && [ -d ../shared/data/mnist ]; then export OPTBENCH_DATA=$(cd ../shared/data && pwd); fi
export WANDB_MODE=${WANDB_MODE:-offline}
.venv/bin/optbench -m experiment=optimizer_shootout task=mnist_mlp task.eval_every=100 \
  hydra.sweeper.num_lrs=5 hydra.sweeper.lr_min_factor=0.1 hydra.sweeper.lr_max_factor=10 \
  hydra.sweeper.extend_edges=2 store_dir=results/mnist_mlp/store "$@"
.venv/bin/optbench-report store_dir=results/mnist_mlp/store filters.task=mnist_mlp filters.sweep=shootout-mnist_mlp \
  name=mnist_mlp
.venv/bin/optbench-report report=memory
