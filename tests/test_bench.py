"""scripts/bench.py's bandwidth bound counts traffic as the memory system moves it (write-allocate included)."""

from __future__ import annotations

import importlib.util

import pytest

from .conftest import REPO


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("bench", REPO / "scripts" / "bench.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_stream_kernels_count_the_write_allocate_read(bench, monkeypatch):
    monkeypatch.setattr(bench, "best_time", lambda fn, repeats: (fn(), 0.5)[1])
    bw = bench.stream_bandwidth(1000, repeats=1)
    assert bw == {"copy": 3 * 1000 * 4 / 0.5, "triad": 4 * 1000 * 4 / 0.5}


def test_the_best_of_n_is_the_minimum(bench, monkeypatch):
    clock = iter([0.0, 3.0, 10.0, 11.0, 20.0, 22.0])  # calls take 3, 1, 2 seconds
    monkeypatch.setattr(bench.time, "perf_counter", lambda: next(clock))
    assert bench.best_time(lambda: None, repeats=3) == 1.0
