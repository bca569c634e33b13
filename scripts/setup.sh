#!/usr/bin/env bash
# Create .venv and install optbench with its test and launcher extras.
# torch is installed first at 2.13.0: on CPU-only machines that pin selects the CPU build, where an unpinned
# request would pull several GB of CUDA wheels. Set OPTBENCH_TORCH to pin another version (or "skip").
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
  .venv/bin/python -m pip install --quiet --upgrade pip
fi
TORCH=${OPTBENCH_TORCH:-2.13.0}
if [ "$TORCH" != "skip" ] && ! .venv/bin/python -c "import torch, sys; sys.exit(torch.__version__.split('+')[0] != '$TORCH')" 2>/dev/null; then
  .venv/bin/python -m pip install --quiet "torch==$TORCH"
fi
.venv/bin/python -m pip install --quiet -e ".[test,joblib,slurm,zoo,lowbit,optuna]"
echo "optbench installed in $(pwd)/.venv (activate with: source .venv/bin/activate)"
