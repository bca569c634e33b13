#!/usr/bin/env bash
# Regenerate results/mnist_mlp/: the optimizer shootout on the MNIST MLP (5-point lr grid around each optimizer's
# tuned lr on seed 0, then the best lr on seeds 0, 1, 2; one epoch each, test accuracy every 100 steps), then the
# comparison figures and tables (about 7 minutes on a 2-core CPU), then results/memory/ (about 10 more). Extra
# arguments are Hydra overrides.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
if [ -z "${OPTBENCH_DATA:-}" ] && [ -d ../shared/data/mnist ]; then export OPTBENCH_DATA=$(cd ../shared/data && pwd); fi
export WANDB_MODE=${WANDB_MODE:-offline}
.venv/bin/optbench -m +experiment=optimizer_shootout task=mnist_mlp task.eval_every=100 \
  hydra.sweeper.num_lrs=5 hydra.sweeper.lr_min_factor=0.1 hydra.sweeper.lr_max_factor=10 "$@"
.venv/bin/optbench-report filters.task=mnist_mlp filters.sweep=shootout-mnist_mlp name=mnist_mlp
.venv/bin/optbench-report report=memory
