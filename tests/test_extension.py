"""Your own optimizer or task from a YAML file (plus its class), outside optbench: the README's example runs."""

from __future__ import annotations

import shutil

from .conftest import REPO
from .test_cli import optbench, summaries

EXAMPLE = REPO / "examples" / "custom"
COMMAND = "PYTHONPATH=. optbench --config-dir conf task=linreg optimizer=my_signum"


def run_optbench(cwd, *args):
    return optbench(cwd, *args, env={"PYTHONPATH": "."})


def test_the_readme_shows_the_example_as_it_is():
    readme = (REPO / "README.md").read_text()
    assert COMMAND in readme
    for name in ("conf/optimizer/my_signum.yaml", "conf/task/linreg.yaml", "my_optbench/optimizers.py"):
        assert (EXAMPLE / name).read_text().strip() in readme, name


def test_a_user_optimizer_and_task_run_and_are_recorded(tmp_path):
    shutil.copytree(EXAMPLE, tmp_path / "custom", ignore=shutil.ignore_patterns("__pycache__", "results", "outputs"))
    cwd = tmp_path / "custom"
    out = run_optbench(cwd, *COMMAND.split()[2:], "logger=none")
    assert out.returncode == 0, out.stderr[-2000:]
    [s] = summaries(cwd)
    assert s["status"] == "finished" and s["optimizer"] == "my_signum" and s["task"] == "linreg"
    assert s["higher_is_better"] is False and s["final_metric"] < 0.05  # test MSE of a least-squares fit
    assert s["state_bytes"] == s["state_bytes_analytic"] == (16 + 1) * 4 + 2 * 4  # momentum + step counters


def test_an_optimizer_optbench_has_no_memory_rule_for_is_recorded_with_an_unknown_count(tmp_path):
    conf = tmp_path / "conf" / "optimizer"
    conf.mkdir(parents=True)
    (conf / "adamax.yaml").write_text("name: adamax\n_target_: torch.optim.Adamax\nlr: 0.01\n")
    out = run_optbench(tmp_path, "-m", "--config-dir", "conf", "task=rosenbrock", "optimizer=adamax", "logger=none")
    assert out.returncode == 0, out.stderr[-2000:]
    [s] = summaries(tmp_path)
    assert s["status"] == "finished" and s["state_bytes"] > 0 and s["state_bytes_analytic"] is None
