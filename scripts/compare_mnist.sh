#!/usr/bin/env bash
# Set up, then compare all eight optimizers on the MNIST MLP (one epoch each, tuned lrs, cosine schedule).
# Ends with the summary table and the W&B offline run folders. Extra arguments are Hydra overrides, e.g.
#   scripts/compare_mnist.sh seed=0,1 task.epochs=3
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
if [ -z "${OPTBENCH_DATA:-}" ] && [ -d ../shared/data/mnist ]; then export OPTBENCH_DATA=$(cd ../shared/data && pwd); fi
export WANDB_MODE=${WANDB_MODE:-offline}
exec .venv/bin/optbench -m task=mnist_mlp optimizer=sgd,momentum,adagrad,rmsprop,adam,adamw,adafactor,adax "$@"
