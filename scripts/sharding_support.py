"""Which optimizers train the same under DDP, ZeRO-1 and FSDP2 as in one process: 2 ranks, gloo (nccl on CUDA).

    python scripts/sharding_support.py            # starts 2 ranks through torchrun on 127.0.0.1; prints a table

For every optimizer in conf/optimizer/, a small MLP (16-32-32-8, float64, so rounding cannot hide a difference)
takes 3 steps on a global batch of 16, each rank on its half, under each strategy; the weights are then compared
with one process's after the same 3 steps on the whole batch. "same": equal to 1e-9 (relative); "differs": the
run went through but its weights are not those one process gets; otherwise the error, shortened. README
"Several GPUs or nodes" quotes it.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from datetime import timedelta

import torch
import torch.distributed as dist
from torch import nn

STRATEGIES = ("ddp", "zero1", "fsdp")


def model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(16, 32), nn.ReLU(), nn.Linear(32, 32), nn.ReLU(), nn.Linear(32, 8)).double()


def batch() -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    return torch.randn(16, 16, generator=g, dtype=torch.float64), torch.randn(16, 8, generator=g, dtype=torch.float64)


def train(name: str, strategy: str | None, rank: int = 0, world: int = 1) -> dict[str, torch.Tensor]:
    """Three steps of optimizer ``name``; ``strategy`` None = one process on the whole batch."""
    from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict

    from optbench.optim import build_optimizer
    from optbench.optim.factory import load_optimizer_config, optimizer_about

    net = model()
    if strategy == "fsdp":
        from torch.distributed.fsdp import fully_shard

        fully_shard(net)
    trained = nn.parallel.DistributedDataParallel(net) if strategy in ("ddp", "zero1") else net
    opt = build_optimizer(load_optimizer_config(name), net, shard_state=strategy == "zero1")
    create_graph = bool(optimizer_about(opt).create_graph)
    x, y = batch()
    if strategy is not None:
        per = len(x) // world
        x, y = x[rank * per : (rank + 1) * per], y[rank * per : (rank + 1) * per]
    for _ in range(3):
        opt.zero_grad(set_to_none=True)
        loss = ((trained(x) - y) ** 2).mean()
        loss.backward(create_graph=create_graph)
        opt.step()
    if strategy == "fsdp":
        return get_model_state_dict(net, options=StateDictOptions(full_state_dict=True, cpu_offload=True))
    return {k: v.detach().clone() for k, v in net.state_dict().items()}


def verdict(name: str, strategy: str, rank: int, world: int) -> str:
    try:
        sharded = train(name, strategy, rank, world)
    except Exception as exc:  # noqa: BLE001 - the table says what failed
        return "error: " + f"{type(exc).__name__}: {exc}".splitlines()[0][:90]
    if not sharded:  # FSDP gathers the whole weights on rank 0 only: it decides
        return "same"
    reference = train(name, None)
    same = all(torch.allclose(sharded[k], reference[k], rtol=1e-9, atol=1e-12) for k in reference)
    return "same" if same else "differs"


def worker() -> None:
    from optbench.optim import available_optimizers

    dist.init_process_group("gloo", timeout=timedelta(seconds=120))
    rank, world = dist.get_rank(), dist.get_world_size()
    rows = []
    for name in available_optimizers():
        cells = []
        for strategy in STRATEGIES:
            mine = verdict(name, strategy, rank, world)
            every: list = [None] * world
            dist.all_gather_object(every, mine)  # the same on every rank, or the first that is not
            cells.append(next((v for v in every if v != "same"), "same"))
        rows.append(f"| {name} | " + " | ".join(cells) + " |")
    if rank == 0:
        print(f"torch {torch.__version__}, {world} ranks, gloo, CPU\n")
        print("| optimizer | DDP | ZeRO-1 (shard_optimizer_state) | FSDP2 (fully_shard) |")
        print("|---|---|---|---|")
        print("\n".join(rows))
    dist.destroy_process_group()


def main() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--nnodes=1",
           "--master_addr=127.0.0.1", f"--master_port={port}", __file__, "--worker"]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    sys.exit(subprocess.run(cmd, env=env).returncode)


if __name__ == "__main__":
    worker() if "--worker" in sys.argv else main()
