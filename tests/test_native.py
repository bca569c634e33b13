"""The C++ kernel's build cache: keyed by what the binary depends on, loaded from any import path, and built
before the runner's clock starts."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

from optbench.optim import _native

from .conftest import REPO

CHECK = """
import sys
from torch.utils import cpp_extension
import optbench
from optbench.optim import _native
if sys.argv[1] == "load-only":
    def refuse(*args, **kwargs):
        raise AssertionError("rebuilt")
    cpp_extension.load = refuse
assert _native.adafactor_kernels() is not None
print(optbench.__file__)
"""


def test_build_key_depends_on_content_flags_cpu_and_torch_only():
    key = _native.build_key(b"src", ["-O3"], "AVX2", "2.13.0")
    assert key == _native.build_key(b"src", ["-O3"], "AVX2", "2.13.0")
    assert (
        len(
            {
                key,
                *(
                    _native.build_key(*a)
                    for a in [
                        (b"src2", ["-O3"], "AVX2", "2.13.0"),
                        (b"src", ["-O2"], "AVX2", "2.13.0"),
                        (b"src", ["-O3"], "AVX512", "2.13.0"),
                        (b"src", ["-O3"], "AVX2", "2.14.0"),
                    ]
                ),
            }
        )
        == 5
    )


@pytest.mark.skipif(shutil.which("c++") is None and shutil.which("g++") is None, reason="no C++ compiler")
def test_a_build_is_reused_from_another_import_path(tmp_path):
    env = {**os.environ, "TORCH_EXTENSIONS_DIR": str(tmp_path / "ext")}
    first = subprocess.run([sys.executable, "-c", CHECK, "build"], cwd=REPO, env=env, capture_output=True, text=True)
    assert first.returncode == 0, first.stderr[-2000:]
    copy = tmp_path / "elsewhere"
    shutil.copytree(REPO / "optbench", copy / "optbench", ignore=shutil.ignore_patterns("__pycache__"))
    second = subprocess.run(
        [sys.executable, "-c", CHECK, "load-only"],
        cwd=tmp_path,
        env={**env, "PYTHONPATH": str(copy)},
        capture_output=True,
        text=True,
    )
    assert second.returncode == 0, second.stderr[-2000:]
    assert first.stdout.strip() != second.stdout.strip()  # two different package paths, one build


def test_the_runner_prepares_the_optimizer_before_its_clock_starts(monkeypatch, make_config):
    from optbench import runner

    events = []
    monkeypatch.setattr(_native, "adafactor_kernels", lambda: events.append("kernel"))
    real_train = runner.train
    monkeypatch.setattr(runner, "train", lambda *a, **k: (events.append("train"), real_train(*a, **k))[1])
    summary = runner.run(make_config("task=rosenbrock", "optimizer=adafactor", "task.max_steps=5"))
    assert summary["status"] == "finished"
    assert events[:2] == ["kernel", "train"]
    assert summary["optimizer_setup_s"] >= 0
