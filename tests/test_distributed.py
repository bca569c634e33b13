"""Data-parallel runs: each rank's slice of a batch, and N=2 gloo ranks on a global batch B taking the same steps
as one process on batch B (with and without gradient accumulation), on the deterministic float64 task."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from omegaconf import OmegaConf

from optbench import distributed
from optbench.errors import OptbenchError
from optbench.tasks.base import Batch

from .conftest import REPO
from .det_task import config as det_config


def test_each_rank_takes_its_equal_slice_of_the_global_batch():
    x, y = torch.arange(24).reshape(12, 2), torch.arange(12)
    batch = Batch((x, y), 12 * 5)  # e.g. 5 tokens a row
    parts = [distributed.shard(batch, distributed.Context(r, 3, r, True)) for r in range(3)]
    assert [p.size for p in parts] == [20, 20, 20]
    torch.testing.assert_close(torch.cat([p.tensors[0] for p in parts]), x)
    torch.testing.assert_close(parts[1].tensors[1], y[4:8])
    assert distributed.shard(batch, distributed.SINGLE) is batch
    with pytest.raises(OptbenchError, match="task.batch_size=10 does not split evenly over 4 ranks"):
        distributed.check_batch(10, distributed.Context(0, 4, 0, True), "task.batch_size")


def test_ddp_outside_torchrun_is_a_clear_error(monkeypatch):
    for key in distributed.TORCHRUN_ENV:
        monkeypatch.delenv(key, raising=False)
    with pytest.raises(OptbenchError, match="distributed=ddp runs under torchrun.*nproc_per_node"):
        distributed.check(OmegaConf.create({"distributed": {"name": "ddp"}}))
    with pytest.raises(OptbenchError, match="distributed='zero' is not a distributed mode; choose one of none, ddp"):
        distributed.check(OmegaConf.create({"distributed": {"name": "zero"}}))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def one_process(make_config, tmp_path, k: int, batch: int):
    from optbench import runner

    cfg = make_config("task=rosenbrock", "optimizer=adam", f"accumulate={k}", "save_model=true")
    OmegaConf.set_struct(cfg, False)
    cfg.task = det_config(batch)
    cfg.store_dir = str(tmp_path / f"single{k}x{batch}")
    summary = runner.run(cfg)
    return torch.load(Path(summary["record_dir"]) / "model.pt", weights_only=True), summary["state_bytes"]


def test_two_gloo_ranks_take_the_same_steps_as_one_process(make_config, tmp_path):
    # plain, 2 micro-batches a step (no_sync on the first), the state sharded (ZeRO-1), rank 1's loss NaN
    specs = ["1x24", "2x12", "1x24zero", "2x12fsdp", "1x24nan1"]  # and FSDP2 with accumulation
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--nnodes=1",
           "--master_addr=127.0.0.1", f"--master_port={free_port()}", str(REPO / "tests" / "ddp_worker.py"),
           str(tmp_path / "ddp"), *specs]  # fmt: skip
    done = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    (diverged,) = (tmp_path / "ddp" / "1x24nan1" / "store" / "runs").iterdir()
    summary = json.loads((diverged / "summary.json").read_text())  # rank 1's NaN stopped both ranks at its step
    assert summary["status"] == "diverged" and summary["diverged_step"] == 3 and summary["world_size"] == 2
    for spec in specs[:4]:
        k, batch = (int(v) for v in spec.removesuffix("zero").removesuffix("fsdp").split("x"))
        records = list((tmp_path / "ddp" / spec / "store" / "runs").iterdir())
        assert len(records) == 1  # rank 0 alone writes the record
        summary = json.loads((records[0] / "summary.json").read_text())
        assert summary["status"] == "finished" and summary["world_size"] == 2
        assert (summary["global_batch_size"], summary["batch_size_per_rank"]) == (batch, batch // 2)
        assert summary["steps"] == 2 * 96 // (batch * k)
        ddp = torch.load(records[0] / "model.pt", weights_only=True)
        single, state = one_process(make_config, tmp_path, k, batch)
        for key in single:
            torch.testing.assert_close(ddp[key], single[key], rtol=1e-12, atol=1e-13)
        measured, analytic = summary["state_bytes_per_rank"], summary["state_bytes_analytic_per_rank"]
        assert measured == analytic  # each rank's measured state is the analytic rule over the parameters it holds
        if spec.endswith("fsdp"):  # every tensor split over the ranks: each holds about half of each
            assert summary["state_sharded"] and summary["params_sharded"] and max(measured) < state
            params = summary["param_bytes_per_rank"]  # the 65 float64 parameters, split by rows
            assert sum(params) == 65 * 8 and max(params) < 65 * 8
        elif spec.endswith("zero"):  # each rank holds its partition's share: together, one process's state
            assert summary["state_sharded"] and sum(measured) == state and 0 < min(measured) < state
            largest = 2 * 48 * 8 + 8  # Adam's two float64 slots (and its step) for the 6 x 8 weight
            assert all(abs(m - state / 2) <= largest for m in measured)  # the even share the projection uses
        else:  # plain DDP: every rank holds the whole state
            assert not summary["state_sharded"] and measured == [state, state]


def test_the_slurm_launchers_tasks_become_ranks(tmp_path, idx_dir):
    """hydra/launcher=local_submitit with tasks_per_node=2 runs SLURM's code path here: the job's 2 tasks join
    one process group and write one record of world size 2."""
    cmd = [sys.executable, "-m", "optbench", "-m", "hydra/launcher=local_submitit", "hydra.launcher.tasks_per_node=2",
           f"task.data_dir={idx_dir}", "optimizer=adamw", "distributed=ddp", "task.max_steps=4", "logger=none",
           f"store_dir={tmp_path / 'store'}", "threads=1", "memory_probe_steps=[]"]  # fmt: skip
    done = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    (record,) = (tmp_path / "store" / "runs").iterdir()
    summary = json.loads((record / "summary.json").read_text())
    assert summary["status"] == "finished" and summary["world_size"] == 2 and summary["batch_size_per_rank"] == 64
    again = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=300)  # resume: every rank skips
    assert again.returncode == 0 and "0 trained, 1 already in the store" in again.stdout + again.stderr
    assert [p.name for p in (tmp_path / "store" / "runs").iterdir()] == [record.name]


@pytest.mark.parametrize("fault", ["kill -9 of rank 1", "ctrl-c"])
def test_kill_9_of_one_rank_or_ctrl_c_stops_every_rank_and_leaves_nothing_in_the_store(tmp_path, idx_dir, fault):
    import signal
    import time

    store = tmp_path / "store"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--nnodes=1",
           "--master_addr=127.0.0.1", f"--master_port={free_port()}", "-m", "optbench", f"task.data_dir={idx_dir}",
           "task.epochs=100000", "distributed=ddp", "logger=none", f"store_dir={store}", "threads=1"]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(cmd, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        rank1 = None
        deadline = time.time() + 120
        while rank1 is None and time.time() < deadline:
            time.sleep(0.5)
            rank1 = next((pid for pid in children(proc.pid) if b"RANK=1\0" in environ(pid)), None)
        assert rank1 is not None, "rank 1 never started"
        time.sleep(8)  # into training
        if fault == "ctrl-c":
            os.kill(proc.pid, signal.SIGINT)  # torchrun passes it on to every rank
        else:
            os.kill(rank1, signal.SIGKILL)
        out, _ = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode != 0
    assert not (store / "runs").exists() or not any((store / "runs").iterdir())
    if fault == "ctrl-c":  # each rank says so, in one line, without a traceback of its own
        assert out.count("optbench: interrupted; this run left nothing in the store") == 2
        assert "[rank0]: Traceback" not in out and "[rank1]: Traceback" not in out


def children(pid: int) -> list[int]:
    try:
        return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def environ(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/environ").read_bytes()
    except OSError:
        return b""


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("muon", "built from the whole model"),
        ("schedulefree_adamw", "train\\(\\)/eval\\(\\)"),
        ("prodigy", "sums over every parameter"),  # its about.not_sharded
    ],
)
def test_optimizers_zero_cannot_shard_say_why_before_any_work(name, why):
    from optbench.optim.factory import build_optimizer, load_optimizer_config

    model = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.Linear(4, 2))
    with pytest.raises(
        OptbenchError, match=f"'{name}' cannot run with distributed.shard_optimizer_state=true: .*{why}"
    ):
        build_optimizer(load_optimizer_config(name), model, shard_state=True)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["optimizer=soap", "distributed.fully_shard=true"], "'soap' cannot run with distributed.fully_shard=true"),
        (["optimizer=muon", "distributed.fully_shard=true"], "'muon' cannot run with .*whole model"),
        (["optimizer=sophia"], "'sophia' cannot run with distributed=ddp: .*second derivatives"),
    ],
)
def test_a_strategy_an_optimizer_cannot_take_is_refused_before_training(make_config, args, message):
    cfg = make_config("distributed=ddp", *args)
    with pytest.raises(OptbenchError, match=message):
        distributed.check_optimizer(cfg, distributed.Context(0, 2, 0, True))
    distributed.check_optimizer(make_config("distributed=ddp", "optimizer=adamw"), distributed.Context(0, 2, 0, True))
