from __future__ import annotations

import os
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import DictConfig

from optbench.paths import config_dir

REPO = Path(__file__).resolve().parent.parent


def shared_data_root() -> Path | None:
    """The real datasets: $OPTBENCH_DATA, else ../shared/data beside the checkout."""
    for candidate in (os.environ.get("OPTBENCH_DATA"), REPO.parent / "shared" / "data"):
        if candidate and Path(candidate, "mnist").is_dir():
            return Path(candidate)
    return None


@pytest.fixture
def data_root() -> Path:
    root = shared_data_root()
    if root is None:
        pytest.skip("real datasets not found: set OPTBENCH_DATA to a folder holding mnist/ and multi30k/")
    return root


def compose_config(overrides: list[str], tmp_path: Path) -> DictConfig:
    """The config `optbench <overrides>` would run, with the store and W&B folders under tmp_path."""
    with initialize_config_dir(config_dir=str(config_dir()), version_base="1.3"):
        return compose(
            "config",
            overrides=[
                f"store_dir={tmp_path / 'store'}",
                f"cache_dir={tmp_path / 'cache'}",
                f"logger.dir={tmp_path / 'outputs'}",
                "logger=none",
                *overrides,
            ],
        )


@pytest.fixture
def make_config(tmp_path):
    return lambda *overrides: compose_config(list(overrides), tmp_path)


def optimizer_names() -> list[str]:
    return sorted(p.stem for p in (config_dir() / "optimizer").glob("*.yaml"))


@pytest.fixture
def idx_dir(tmp_path):
    """A small folder of IDX files shaped like MNIST's (256 train, 64 test images of 6 x 5)."""
    from .test_idx import make_idx_dir

    make_idx_dir(tmp_path / "idx", n_train=256, n_test=64)
    return tmp_path / "idx"


def render_committed(report: str, out_root: Path, *overrides: str):
    """`optbench-report report=<report>` from the repository into ``out_root``, the committed store only (no
    OPTBENCH_STORE): how a reader re-renders a committed table."""
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k != "OPTBENCH_STORE"}
    return subprocess.run(
        [sys.executable, "-m", "optbench.report", f"report={report}", f"out_root={out_root}", *overrides],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
