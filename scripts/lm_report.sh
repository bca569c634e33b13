#!/usr/bin/env bash
# Regenerate results/lm_shakespeare/: Adam's and AdamW's lrs on the Shakespeare decoder (a 3-point grid, 1/3x to
# 3x the task's lr, on seed 0; 990 steps each, about 10 minutes a run on a 2-core CPU), then the comparison
# figures and tables. The records go to results/lm_shakespeare/store/ (committed: the report re-renders from them,
# and re-running this script skips every finished run). Extra arguments are Hydra overrides, e.g. optimizer=lion.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
if [ -z "${OPTBENCH_DATA:-}" ] && [ -d ../shared/data/shakespeare ]; then export OPTBENCH_DATA=$(cd ../shared/data && pwd); fi
export WANDB_MODE=${WANDB_MODE:-offline}
.venv/bin/optbench -m experiment=tune task=lm_shakespeare optimizer=adam,adamw \
  hydra.sweeper.num_lrs=3 hydra.sweeper.lr_min_factor=0.333333 hydra.sweeper.lr_max_factor=3.0 \
  'hydra.sweeper.seeds=[0]' store_dir=results/lm_shakespeare/store "$@"
.venv/bin/optbench-report store_dir=results/lm_shakespeare/store filters.task=lm_shakespeare name=lm_shakespeare
