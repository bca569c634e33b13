#!/usr/bin/env bash
# Set up, then run the test suite (fast tests; add `-m slow` or `-m "slow or not slow"` for the long ones).
# The real datasets are read from $OPTBENCH_DATA, defaulting to ../shared/data beside the checkout.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
if [ -z "${OPTBENCH_DATA:-}" ] && [ -d ../shared/data ]; then export OPTBENCH_DATA=$(cd ../shared/data && pwd); fi
export WANDB_MODE=offline WANDB_SILENT=true
.venv/bin/ruff check optbench tests scripts plugins/hydra_plugins
.venv/bin/ruff format --check --quiet optbench tests scripts plugins/hydra_plugins
.venv/bin/mypy   # the core package's type hints (files listed in pyproject.toml's [tool.mypy])
exec .venv/bin/python -m pytest "$@"
