#!/usr/bin/env bash
# Build optbench's wheel, install it into a fresh venv beside torch (2.13.0, or $OPTBENCH_TORCH), and use it from a
# folder outside the checkout: --version, --help, a 2-D task with the C++ Adafactor kernel, a debug run, a report.
# CI runs this after the tests; it needs the checkout's .venv (scripts/setup.sh) for the build tool.
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$(pwd)
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
.venv/bin/python -m build --wheel --outdir "$WORK/dist" . > "$WORK/build.log" 2>&1 || { cat "$WORK/build.log"; exit 1; }
WHEEL=$(ls "$WORK"/dist/optbench-*.whl)
unzip -l "$WHEEL" > "$WORK/contents.txt"  # (not piped into grep -q: with pipefail, an early exit reads as failure)
for path in optbench/conf/config.yaml optbench/optim/csrc/adafactor_cpu.cpp hydra_plugins/optbench_sweepers/tune.py; do
  grep -q " $path\$" "$WORK/contents.txt" || { echo "check_wheel: $path is missing from $WHEEL"; exit 1; }
done
"${PYTHON:-python3}" -m venv "$WORK/venv"
PIP="$WORK/venv/bin/python -m pip install --quiet"
$PIP "torch==${OPTBENCH_TORCH:-2.13.0}"
$PIP "$WHEEL"
mkdir "$WORK/elsewhere" && cd "$WORK/elsewhere"
export PATH="$WORK/venv/bin:$PATH" WANDB_MODE=offline WANDB_SILENT=true
python -c "import torch, sys; print('torch', torch.__version__); sys.exit(torch.__version__.split('+')[0] != '${OPTBENCH_TORCH:-2.13.0}')"
test "$(optbench --version)" = "optbench $(cd "$REPO" && .venv/bin/python -c 'import optbench; print(optbench.__version__)')"
optbench --help > help.txt
grep -q "optimizer: adafactor, adagrad, adam" help.txt
optbench task=rosenbrock optimizer=adafactor logger=none > run.log 2>&1 || { cat run.log; exit 1; }
optbench debug=fast task=beale optimizer=adax > debug.log 2>&1 || { cat debug.log; exit 1; }
ls results/store/runs/rosenbrock-adafactor-*/summary.json > /dev/null
optbench-report filters.task=rosenbrock out_root=reports > report.log 2>&1 || { cat report.log; exit 1; }
ls reports/*/summary.md > /dev/null
python -c "import optbench, torch; optbench.build_optimizer('adafactor', torch.nn.Linear(2, 2).parameters()).step()"
echo "check_wheel: $(basename "$WHEEL") installs beside torch and runs from $(pwd)"
