"""Data-parallel runs under ``torchrun``: the process group, the model wrapper, and each rank's share of a batch.

``optbench ... distributed=ddp`` launched by ``torchrun --nproc_per_node=N`` (or a SLURM job with N tasks) trains
one model on N processes with PyTorch's ``DistributedDataParallel``: ``gloo`` on CPU, ``nccl`` on CUDA. Every rank
walks the task's batches in the same order (same seed) and trains on its slice of each global batch (rows
``[r*B/N, (r+1)*B/N)``), so N ranks on a global batch B take the same steps as one process on batch B: DDP averages
the ranks' gradients, the mean over equal slices of the batch's mean loss. Rank 0 alone writes the W&B run and the
store record. Without ``distributed=ddp`` nothing here runs and a run is one process, as always.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta

import torch
import torch.distributed as dist
from torch import nn

from optbench.errors import OptbenchError
from optbench.tasks.base import Batch

TORCHRUN_ENV = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")
MODES = ("none", "ddp")


@dataclass(frozen=True)
class Context:
    """Where this process stands: rank, world size, local rank (its GPU), and whether DDP is on."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    enabled: bool = False

    @property
    def is_main(self) -> bool:
        return self.rank == 0


SINGLE = Context()


def mode(cfg) -> str:
    """The ``distributed`` group's name ("none" when the config has no such group)."""
    node = cfg.get("distributed") if cfg is not None else None
    return str(node.get("name", "none")) if node else "none"


def check(cfg) -> None:
    """Bad settings, before any work: an unknown mode, or ``ddp`` outside torchrun."""
    name = mode(cfg)
    if name not in MODES:
        raise OptbenchError(f"distributed={name!r} is not a distributed mode; choose one of {', '.join(MODES)}.")
    if name == "ddp":
        adopt_slurm_tasks()
        missing = [k for k in TORCHRUN_ENV if k not in os.environ]
        if missing:
            raise OptbenchError(
                f"distributed=ddp runs under torchrun, which sets {', '.join(missing)} for each process; launch it "
                f"as `torchrun --nproc_per_node=2 -m optbench ... distributed=ddp` (or through the SLURM launcher "
                f"with tasks_per_node), or drop distributed=ddp for a one-process run."
            )


def adopt_slurm_tasks() -> None:
    """In a SLURM job of several tasks (the submitit launcher with ``tasks_per_node`` / ``nodes``), the variables
    torchrun would set, from the job's own (submitit's ``TorchDistributedEnvironment``: rank, world size, local
    rank, the first node as the rendezvous; ``hydra/launcher=local_submitit`` runs the same path on one machine)."""
    tasks = max(int(os.environ.get(k, "1") or 1) for k in ("SLURM_NTASKS", "SUBMITIT_LOCAL_NTASKS"))
    if "RANK" in os.environ or tasks < 2:
        return
    try:
        from submitit.helpers import TorchDistributedEnvironment
    except ImportError:  # not a submitit job: torchrun's variables are asked for below
        return
    TorchDistributedEnvironment().export(set_cuda_visible_devices=False)


def setup(cfg, device: torch.device) -> tuple[Context, torch.device]:
    """Join the process group when ``distributed=ddp`` (gloo on CPU, nccl on CUDA, each rank on its local GPU);
    (context, the device this rank trains on). The launch was checked with the config (``check``)."""
    if mode(cfg) != "ddp":
        return SINGLE, device
    rank, world, local = (int(os.environ[k]) for k in ("RANK", "WORLD_SIZE", "LOCAL_RANK"))
    if device.type == "cuda":
        device = torch.device("cuda", local)
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        timeout = timedelta(seconds=float(cfg.distributed.get("timeout_s") or 600))
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo", timeout=timeout)
    return Context(rank, world, local, enabled=True), device


def check_optimizer(cfg, ctx: Context) -> None:
    """Before any work: an optimizer that cannot train under this run's strategy (second derivatives under DDP;
    what ``about.not_sharded`` declares; see ``optim.factory.check_shardable``)."""
    if not ctx.enabled:
        return
    from optbench.optim.about import read_about
    from optbench.optim.factory import check_shardable, optimizer_class
    from optbench.values import plain_dict

    opt = plain_dict(cfg.optimizer, resolve=True)
    about = read_about(opt)
    if about.create_graph:
        raise OptbenchError(
            f"optimizer '{about.name}' cannot run with distributed=ddp: its step needs second derivatives "
            f"(backward(create_graph=True)), which DistributedDataParallel's gradient hooks do not support."
        )
    if fully_shards(cfg, ctx):
        check_shardable(about.name, optimizer_class(opt.get("_target_"), about), about, "fsdp")


def shards_state(cfg, ctx: Context) -> bool:
    """``distributed.shard_optimizer_state`` in a data-parallel run (ZeRO-1); one process has nothing to shard."""
    return ctx.enabled and bool((cfg.get("distributed") or {}).get("shard_optimizer_state", False))


def fully_shards(cfg, ctx: Context) -> bool:
    """``distributed.fully_shard`` in a data-parallel run (FSDP2)."""
    return ctx.enabled and bool((cfg.get("distributed") or {}).get("fully_shard", False))


def wrap(model: nn.Module, ctx: Context, device: torch.device, cfg=None) -> nn.Module:
    """The model the ranks train, before the optimizer is built on ``model``: DDP around it (the same
    parameters), or with ``distributed.fully_shard`` FSDP2's ``fully_shard`` applied to it in place (its
    parameters become this rank's shards, DTensors; the whole model is one unit, all-gathered for each pass)."""
    if not ctx.enabled:
        return model
    if fully_shards(cfg, ctx):
        from torch.distributed.fsdp import fully_shard

        fully_shard(model)
        return model
    ids = [device.index] if device.type == "cuda" else None
    return nn.parallel.DistributedDataParallel(model, device_ids=ids)


def unwrap(model: nn.Module) -> nn.Module:
    return model.module if isinstance(model, nn.parallel.DistributedDataParallel) else model


def reshard(model: nn.Module) -> None:
    """FSDP2 leaves the root module's parameters gathered after a pass; free them back to this rank's shards."""
    switch = getattr(model, "reshard", None)
    if callable(switch):
        switch()


def full_state_dict(model: nn.Module, ctx: Context) -> dict:
    """The whole model's weights (every rank takes part: under FSDP they are gathered from the shards)."""
    if not ctx.enabled or isinstance(model, nn.parallel.DistributedDataParallel):
        return unwrap(model).state_dict()
    from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict

    return get_model_state_dict(model, options=StateDictOptions(full_state_dict=True, cpu_offload=True))


def check_batch(rows: int, ctx: Context, what: str) -> None:
    if ctx.enabled and rows % ctx.world_size:
        raise OptbenchError(
            f"{what}={rows} does not split evenly over {ctx.world_size} ranks: each rank trains on an equal slice "
            f"of every global batch. Choose a batch size divisible by {ctx.world_size}."
        )


def shard(batch: Batch, ctx: Context) -> Batch:
    """This rank's slice of a global batch: rows [r*B/N, (r+1)*B/N) of every tensor (batch-first), with its
    share of the batch's throughput units."""
    if not ctx.enabled:
        return batch
    rows = batch.tensors[0].shape[0]
    per = rows // ctx.world_size
    lo = ctx.rank * per
    return Batch(tuple(t[lo : lo + per] for t in batch.tensors), batch.size * per // rows)


def no_sync(model: nn.Module, last: bool):
    """DDP's ``no_sync`` (FSDP2's ``set_requires_gradient_sync(False)``) for the micro-batches before an optimizer
    step's last: their gradients accumulate locally and the last backward averages the step's over the ranks."""
    if isinstance(model, nn.parallel.DistributedDataParallel) and not last:
        return model.no_sync()
    switch = getattr(model, "set_requires_gradient_sync", None)
    if callable(switch):
        return _gradient_sync(switch, on=last)
    return contextlib.nullcontext()


@contextlib.contextmanager
def _gradient_sync(switch, on: bool) -> Iterator[None]:
    switch(on)
    try:
        yield
    finally:
        switch(True)


def mean_over_ranks(value: torch.Tensor, ctx: Context) -> torch.Tensor:
    """The mean of a scalar over the ranks (a NaN on any rank makes it NaN on every rank: all stop together)."""
    if not ctx.enabled:
        return value
    out = value.detach().clone().float()
    dist.all_reduce(out)
    return out / ctx.world_size


def gather_over_ranks(value: float, ctx: Context) -> list[float]:
    """Every rank's ``value``, in rank order (rank 0 records them: e.g. each rank's optimizer-state bytes)."""
    if not ctx.enabled:
        return [float(value)]
    out: list = [None] * ctx.world_size
    dist.all_gather_object(out, float(value))
    return [float(v) for v in out]
