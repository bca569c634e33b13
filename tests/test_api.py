"""The Python API: the README's examples run as written, and each call matches what the command does."""

from __future__ import annotations

import re

import pytest
import torch

import optbench
from optbench.api import COLUMNS

from .conftest import REPO
from .test_cli import optbench as optbench_command


def readme_section(title: str) -> str:
    text = (REPO / "README.md").read_text()
    start = text.index(f"## {title}\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end != -1 else None]


def test_the_readmes_python_examples_run(tmp_path, monkeypatch):
    blocks = re.findall(r"```python\n(.*?)```", readme_section("Python API"), flags=re.S)
    assert len(blocks) == 3
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    for block in blocks:
        exec(compile(block, "README.md", "exec"), namespace)  # noqa: S102 - the documentation's own code
    assert (tmp_path / "results/store/runs").is_dir() and list((tmp_path / "outputs/runs").glob("*/*/config.yaml"))


def test_the_readmes_column_table_is_the_api_one():
    table = re.findall(r"^\| `(\w+)` \| ([^|]+) \| ([^|]+) \|$", readme_section("Python API"), flags=re.M)
    assert [(c, d.strip(), m.strip()) for c, d, m in table] == [(c, d, m) for c, (d, m) in COLUMNS.items()]


def test_build_optimizer_by_name_equals_the_runs_optimizer():
    torch.manual_seed(0)
    a, b = torch.nn.Linear(3, 2), torch.nn.Linear(3, 2)
    b.load_state_dict(a.state_dict())
    ours = optbench.build_optimizer("adamw", a.parameters(), lr=1e-2, weight_decay=0.1)
    ref = torch.optim.AdamW(b.parameters(), lr=1e-2, weight_decay=0.1)
    for opt, model in ((ours, a), (ref, b)):
        for _ in range(3):
            opt.zero_grad()
            model(torch.ones(4, 3)).sum().backward()
            opt.step()
    for p, q in zip(a.parameters(), b.parameters(), strict=True):
        torch.testing.assert_close(p, q, rtol=0, atol=0)
    with pytest.raises(optbench.OptbenchError, match="'adamx' is not one of optbench's: adafactor, adagrad"):
        optbench.build_optimizer("adamx", a.parameters())
    with pytest.raises(optbench.OptbenchError, match="rejected its configuration"):
        optbench.build_optimizer("adam", a.parameters(), bogus=1)


def test_run_from_python_is_the_commands_run(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    summary = optbench.run("task=rosenbrock", "optimizer=sgd", "logger=none", output_dir=tmp_path / "here")
    assert (tmp_path / "here/config.yaml").is_file()
    out = optbench_command(tmp_path, "task=rosenbrock", "optimizer=sgd", "logger=none")
    assert f"Run {summary['run_id']} is already in the store" in out.stdout + out.stderr  # the same run id
    with pytest.raises(optbench.OptbenchError, match="optimizer.lr=-1"):
        optbench.run("task=rosenbrock", "optimizer.lr=-1", "logger=none")
    frame = optbench.load_store(tmp_path / "results/store")
    assert list(frame.columns[: len(COLUMNS)]) == list(COLUMNS) and len(frame) == 1
    assert frame.loc[0, "run_id"] == summary["run_id"] and frame["start_time"].dt.tz is not None
    with pytest.raises(optbench.OptbenchError, match="is not an optbench store"):
        optbench.load_store(tmp_path / "nowhere")
