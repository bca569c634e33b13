"""One benchmark run: config -> task + optimizer -> training loop -> record in W&B and the local store.

Read ``run`` from top to bottom: check the config, skip if already done, build everything, train, record.
"""

from __future__ import annotations

import copy
import io
import logging
import os
import random
import subprocess
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import torch
from omegaconf import DictConfig

from optbench import distributed, memtrack, second_order
from optbench.config import resolve_device, validate
from optbench.debugging import debug_session
from optbench.divergence import DEFAULT_MAX_LOSS_FACTOR, Diverged, DivergenceGuard
from optbench.errors import OptbenchError
from optbench.memory import inner_optimizers, memory_record, peak_rss_bytes
from optbench.optim import build_optimizer
from optbench.optim.about import read_about
from optbench.optim.factory import optimizer_about, wrap_optimizer
from optbench.precision import resolve_precision
from optbench.progress import job_position, progress
from optbench.schedules import build_scheduler
from optbench.tasks import Task, build_task
from optbench.tasks.base import Batch
from optbench.timing import StepTimer
from optbench.tracking.naming import variant_label
from optbench.tracking.store import (
    RunStore,
    StoreError,
    earlier_run_ids,
    portable_config,
    portable_path,
    run_id,
)
from optbench.tracking.summary import write_marker
from optbench.tracking.wandb_run import WandbRun
from optbench.values import plain_dict

log = logging.getLogger(__name__)

UNTIMED_STEPS = 5  # first steps create optimizer state and warm allocators; throughput skips them


def untimed_steps(total: int) -> int:
    """Steps left out of throughput: UNTIMED_STEPS, or fewer for very short runs so that some are timed."""
    return min(UNTIMED_STEPS, total // 2)


def mean_loss(window: list[torch.Tensor]) -> float:
    """The mean of the losses since the last record, read from the device in one transfer."""
    return sum(torch.stack(window).tolist()) / len(window)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # also seeds every CUDA device


def git_commit() -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5, cwd=Path(__file__).parent
        )
        return out.stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def accumulation(cfg: DictConfig) -> int:
    """Micro-batches per optimizer step (``accumulate``)."""
    return int(cfg.get("accumulate") or 1)


def total_steps(task: Task, cfg: DictConfig) -> int:
    """Optimizer steps: each takes ``accumulate`` of the task's batches."""
    steps = task.steps_per_epoch() // accumulation(cfg) * cfg.task.epochs
    return min(steps, cfg.task.max_steps) if cfg.task.get("max_steps") else steps


def prepare_optimizer(optimizer: torch.optim.Optimizer, cfg: DictConfig, model: torch.nn.Module) -> float:
    """Let the optimizer do its one-off work before the clock starts: its ``prepare()`` (building or loading a
    kernel), and for one that compiles its step on first use (``about.compiles``) one step of a throwaway copy
    on zero gradients, which leaves the compiled kernels cached for the real parameters' shapes. Returns the
    seconds it took, recorded as ``optimizer_setup_s``."""
    start = time.perf_counter()
    for opt in inner_optimizers(optimizer):
        prepare = getattr(opt, "prepare", None)
        if callable(prepare):
            prepare()
    if declares(optimizer, "compiles"):
        scratch = copy.deepcopy(model)
        for p in scratch.parameters():
            p.grad = torch.zeros_like(p)
        build_optimizer(cfg.optimizer, scratch).step()
        del scratch
    return time.perf_counter() - start


def declares(optimizer: torch.optim.Optimizer, capability: str) -> bool:
    """Whether the optimizer, or one it wraps, declares ``about.<capability>`` (create_graph, compiles)."""
    return any(getattr(optimizer_about(o), capability) for o in inner_optimizers(optimizer))


def build_run_optimizer(
    cfg: DictConfig, model: torch.nn.Module, ctx: distributed.Context = distributed.SINGLE
) -> torch.optim.Optimizer:
    """The configured optimizer over ``model``, inside its wrapper (``wrapper=lookahead``) when one is set, its
    state sharded over the ranks with ``distributed.shard_optimizer_state``."""
    optimizer = build_optimizer(cfg.optimizer, model, shard_state=distributed.shards_state(cfg, ctx))
    return wrap_optimizer(cfg.wrapper, optimizer) if cfg.get("wrapper") else optimizer


def has_own_schedule(optimizer: torch.optim.Optimizer) -> bool:
    """The optimizer supplies its step size itself (Adafactor's relative step, Schedule-Free), so no scheduler."""
    return any(
        getattr(o, "supplies_step_size", False) or not optimizer_about(o).schedule for o in inner_optimizers(optimizer)
    )


def set_optimizer_mode(optimizer: torch.optim.Optimizer, training: bool) -> None:
    """``optimizer.train()`` / ``.eval()`` for optimizers that evaluate other weights than they step
    (Schedule-Free evaluates its averaged iterate); a no-op for the rest."""
    for opt in inner_optimizers(optimizer):
        switch = getattr(opt, "train" if training else "eval", None)
        if callable(switch):
            switch()


def run(cfg: DictConfig, output_dir: str | None = None) -> dict[str, Any]:
    """Train and evaluate one configuration; return its summary (the stored one if it was already complete)."""
    validate(cfg)
    config = portable_config(plain_dict(cfg))
    store = RunStore(cfg.store_dir)
    rid = next((r for r in earlier_run_ids(config) if store.is_complete(r)), run_id(config))
    job = f"Job {position}: run" if (position := job_position()) else "Run"
    if store.is_complete(rid) and not cfg.force:
        if output_dir is not None:
            write_marker(output_dir, rid, str(store.root), skipped=True)
        log.info(
            "%s %s is already in the store (%s); skipping. Use force=true to redo it.", job, rid, store.run_dir(rid)
        )
        stored = store.summary(rid)
        assert stored is not None  # is_complete read it
        return stored
    if output_dir is not None:
        write_marker(output_dir, rid, str(store.root))

    ctx, device = distributed.setup(cfg, resolve_device(cfg.device))
    if ctx.is_main:
        store.check_writable()  # before any work: a finished run must never meet a store it cannot be written to
    if cfg.threads is not None:
        torch.set_num_threads(cfg.threads)
    seed_everything(cfg.seed)
    task = build_task(cfg.task, cfg.data_root, device, cfg.seed, cfg.cache_dir)
    task.load()
    steps = total_steps(task, cfg)
    distributed.check_batch(int(cfg.task.get("batch_size") or 0), ctx, "task.batch_size")
    if steps < 1:
        raise OptbenchError(
            f"task '{cfg.task.name}' would train 0 steps: its training split gives no full batch per epoch "
            f"({task.describe_batching()}). Lower the batch size or check the training data."
        )
    precision = resolve_precision(cfg.get("precision", "fp32"))
    model = precision.prepare_model(task.build_model().to(device))
    distributed.check_optimizer(cfg, ctx)
    trained = distributed.wrap(model, ctx, device, cfg)  # DDP around it, or FSDP's shards in place
    optimizer = build_run_optimizer(cfg, model, ctx)  # on the model itself: its parameter names and shapes
    setup_s = prepare_optimizer(optimizer, cfg, model)
    self_scheduled = has_own_schedule(optimizer)
    scheduler = None if self_scheduled else build_scheduler(cfg.schedule, optimizer, steps)

    group = cfg.sweep or f"{cfg.task.name}-{cfg.optimizer.name}"
    wandb_run = WandbRun(
        plain_dict(cfg.logger) if ctx.is_main else {"enabled": False},
        name=rid,
        group=group,
        job_type=cfg.task.name,
        tags=[cfg.task.name, cfg.optimizer.name, *cfg.tags],
        config=config,
        metric=task.metric,
        higher_is_better=task.higher_is_better,
    )
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    summary: dict[str, Any] = {
        "run_id": rid,
        "task": cfg.task.name,
        "optimizer": cfg.optimizer.name,
        "label": variant_label(config),
        "family": read_about(config["optimizer"]).family,
        "lr": cfg.optimizer.lr,
        "accumulate": accumulation(cfg),
        "seed": cfg.seed,
        "sweep": group,
        "tags": list(cfg.tags),
        "schedule": "none (optimizer supplies its step size)" if self_scheduled else cfg.schedule.name,
        "precision": precision.name,
        "unit": task.unit,
        "metric_name": task.metric,
        "higher_is_better": task.higher_is_better,
        "planned_steps": steps,
        "optimizer_setup_s": setup_s,
        "n_params": sum(p.numel() for p in model.parameters()),
        "git_commit": git_commit(),
        "torch_version": torch.__version__,
        "device": str(device) if device.type == "cpu" else torch.cuda.get_device_name(device),
        "threads": torch.get_num_threads(),
        "world_size": ctx.world_size,
        "batch_size_per_rank": per_rank_batch(cfg, ctx),
        "global_batch_size": cfg.task.get("batch_size"),
        "pid": os.getpid(),
        "start_time": _now(),
        "wandb_dir": portable_path(wandb_run.dir),
    }
    metrics: list[dict[str, Any]] = []
    log.info("%s %s: %s on %s, %d steps, device %s", job, rid, cfg.optimizer.name, cfg.task.name, steps, device)
    try:
        with debug_session(cfg.get("debug"), output_dir, device) as profiler:
            outcome = train(
                task, trained, optimizer, scheduler, cfg, steps, metrics, wandb_run, device, profiler.step, ctx
            )
        summary.update(outcome)
    except KeyboardInterrupt:  # nothing goes to the store; W&B marks the run as not successful
        wandb_run.finish({**summary, "status": "interrupted"})
        raise
    except Exception as exc:  # noqa: BLE001 - any failure is recorded, then the sweep goes on
        reason = f"{type(exc).__name__}: {exc}".splitlines()[0]
        if ctx.enabled:  # a rank lost (its peers' collectives fail) or failing: no rank records a partial run
            wandb_run.finish({**summary, "status": "failed"})
            raise OptbenchError(
                f"rank {ctx.rank} of {ctx.world_size} stopped training ({reason[:300]}); a data-parallel run "
                f"that loses a rank records nothing, and rerunning the command redoes it."
            ) from exc
        summary.update(status="failed", reason=reason)
        log.error("Run %s failed: %s", rid, summary["reason"])
    distributed.reshard(trained)  # FSDP keeps its root's parameters gathered after a pass: back to the shards
    summary.update(memory_record(model, optimizer, device))
    if ctx.enabled:  # each rank's optimizer state, measured and analytic (its share under ZeRO-1 or FSDP)
        summary["state_sharded"] = distributed.shards_state(cfg, ctx) or distributed.fully_shards(cfg, ctx)
        summary["params_sharded"] = distributed.fully_shards(cfg, ctx)
        for key in ("state_bytes", "state_bytes_analytic", "param_bytes"):
            value = summary[key]
            summary[f"{key}_per_rank"] = distributed.gather_over_ranks(-1 if value is None else value, ctx)
    summary["end_time"] = _now()
    weights = distributed.full_state_dict(trained, ctx) if cfg.get("save_model") else None  # every rank gathers
    if not ctx.is_main:  # rank 0 writes the record and the W&B run
        return summary
    files = {}
    if weights is not None:
        buffer = io.BytesIO()
        torch.save(weights, buffer)  # load with torch.load(..., weights_only=True)
        files["model.pt"] = buffer.getvalue()
    try:
        store.commit(rid, config, metrics, summary, files)
    except StoreError:
        wandb_run.finish({**summary, "status": "failed"})
        raise
    wandb_run.finish(summary, record_dir=store.run_dir(rid))
    if output_dir is not None:
        write_marker(output_dir, rid, str(store.root), wandb_dir=wandb_run.dir)
    return {**summary, "record_dir": str(store.run_dir(rid))}


def per_rank_batch(cfg: DictConfig, ctx: distributed.Context) -> int | None:
    """Examples (or sequences) each rank trains on per micro-batch: the task's batch over the world size."""
    batch = cfg.task.get("batch_size")
    return None if batch is None else int(batch) // ctx.world_size


def running_memory(device: torch.device, probed=None) -> dict[str, int]:
    """Memory for a train record: the process's peak so far (CUDA max allocated, or peak RSS on the CPU), and the
    probed step's peak by category when a probe has just measured it."""
    peak = torch.cuda.max_memory_allocated(device) if device.type == "cuda" else peak_rss_bytes()
    key = "cuda_max_allocated_bytes" if device.type == "cuda" else "peak_rss_bytes"
    return {key: int(peak), **(probed.record() if probed is not None else {})}


def forward_backward(task: Task, model, micro: list[Batch], precision, device, create_graph: bool) -> torch.Tensor:
    """Gradients of the mean loss over ``micro`` (one batch, or ``accumulate`` micro-batches of one optimizer
    step: each loss / k back-propagated in turn); returns that mean loss, detached."""
    if len(micro) == 1:
        with second_order.passes_for(create_graph):
            with precision.autocast(device):
                loss = task.loss(model, micro[0])
            loss.backward(create_graph=create_graph)
        return loss.detach()
    total: torch.Tensor | None = None
    for i, batch in enumerate(micro):
        with distributed.no_sync(model, last=i == len(micro) - 1), second_order.passes_for(create_graph):
            with precision.autocast(device):
                loss = task.loss(model, batch)
            (loss / len(micro)).backward(create_graph=create_graph)
        total = loss.detach() if total is None else total + loss.detach()
    assert total is not None  # micro holds at least one batch
    return total / len(micro)


def optimizer_steps(task: Task, epoch: int, k: int):
    """The epoch's batches in groups of ``k``, one group per optimizer step (a short last group is dropped)."""
    micro: list[Batch] = []
    for batch in task.train_batches(epoch):
        micro.append(batch)
        if len(micro) == k:
            yield micro
            micro = []


def probe_step(task: Task, model, optimizer, micro: list[Batch], precision, device: torch.device, create_graph=False):
    """One training step under the memory tracker: (its loss, its StepMemory)."""
    out = {}

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        out["loss"] = forward_backward(task, model, micro, precision, device, create_graph)
        optimizer.step()

    measured = memtrack.measure_step(step, model, optimizer, device)
    return out["loss"], measured


def train(
    task: Task,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler,
    cfg: DictConfig,
    steps: int,
    metrics: list[dict],
    wandb_run: WandbRun,
    device: torch.device,
    on_step=lambda: None,
    ctx: distributed.Context = distributed.SINGLE,
) -> dict[str, Any]:
    """The training loop. Appends train/eval rows to ``metrics``; returns status, final metrics and throughput.
    ``on_step`` is called after each optimizer step (the ``debug=profile`` profiler's clock). Under DDP
    (``ctx``), ``model`` is the wrapped model: each rank trains on its slice of every batch, the losses it
    records and checks are the mean over the ranks, and throughput counts the whole global batch."""
    timer = StepTimer(device)
    precision = resolve_precision(cfg.get("precision", "fp32"))
    guard = DivergenceGuard(device, cfg.task.get("max_loss_factor", DEFAULT_MAX_LOSS_FACTOR))
    skip = untimed_steps(steps)
    log_every = cfg.task.log_every
    eval_every = cfg.task.get("eval_every")
    start = time.perf_counter()
    eval_s = 0.0
    probe_steps = set(cfg.get("memory_probe_steps") or []) if memtrack.available() else set()
    probe_s, memory = 0.0, None
    logged_memory = None  # the memory probe's result once it is in a record
    step, epoch = 0, 0
    window: list[torch.Tensor] = []  # train losses since the last record, still on the device: no per-step sync
    last_train_loss = None

    def record(row: dict[str, Any], at: int | None = None) -> None:
        """Store and log ``row`` for step ``at`` (default: the current step)."""
        at = step if at is None else at
        row = {
            "step": at,
            "epoch": epoch,
            "wall_s": time.perf_counter() - start,
            "train_s": time.perf_counter() - start - eval_s - probe_s,
            **row,
        }
        metrics.append(row)
        wandb_run.log(row["split"], row, at)

    def evaluate(final: bool) -> dict[str, Any]:
        nonlocal eval_s
        t = time.perf_counter()
        set_optimizer_mode(optimizer, training=False)
        with precision.autocast(device):
            result = task.evaluate(distributed.unwrap(model), final=final)
        if not final:
            set_optimizer_mode(optimizer, training=True)
        eval_s += time.perf_counter() - t
        record({"split": "test" if final else "eval", **result})
        shown = ", ".join(f"{k}={v:.4g}" for k, v in result.items() if isinstance(v, float))
        log.info("%s at step %d (epoch %d): %s", "test" if final else "eval", step, epoch, shown)
        return result

    k = accumulation(cfg)
    create_graph = declares(optimizer, "create_graph")
    model.train()
    set_optimizer_mode(optimizer, training=True)
    status, reason, diverged_step = "finished", "", None
    position = job_position()
    desc = f"{cfg.task.name}/{cfg.optimizer.name}" + (f" (job {position})" if position else "")
    with progress(steps, desc, "step") as bar:
        try:
            while step < steps:
                epoch_start = step
                for whole in optimizer_steps(task, epoch, k):
                    micro = [distributed.shard(b, ctx) for b in whole]
                    probed = step + 1 in probe_steps
                    if probed:  # the same step, under the memory tracker; neither timed nor counted as training time
                        t = time.perf_counter()
                        loss, measured = probe_step(task, model, optimizer, micro, precision, device, create_graph)
                        memory = measured if memory is None or measured.peak > memory.peak else memory
                        probe_s += time.perf_counter() - t
                    else:
                        t0 = timer.mark()
                        optimizer.zero_grad(set_to_none=True)
                        loss = forward_backward(task, model, micro, precision, device, create_graph)
                        t1 = timer.mark()
                        optimizer.step()
                        t2 = timer.mark()
                    if scheduler is not None:
                        scheduler.step()
                    step += 1
                    on_step()
                    if step > skip and not probed:
                        timer.add(t0, t1, t2, sum(b.size for b in whole))  # the global batch: all ranks' units
                    loss = distributed.mean_over_ranks(loss, ctx)  # a NaN on any rank stops every rank
                    window.append(loss)
                    guard.observe(loss, step)
                    if step % log_every == 0 or step == steps:
                        guard.check()
                        last_train_loss = mean_loss(window)
                        record(
                            {
                                "split": "train",
                                "loss": last_train_loss,
                                "lr": float(optimizer.param_groups[0]["lr"]),
                                **task.train_record(distributed.unwrap(model)),
                                **timer.window(task.unit),
                                **running_memory(device, memory if memory is not logged_memory else None),
                            }
                        )
                        logged_memory = memory
                        bar.set_postfix(loss=f"{last_train_loss:.4f}", refresh=False)
                        window.clear()
                    bar.update(1)
                    if eval_every and step % eval_every == 0 and step < steps:
                        evaluate(final=False)
                    if step >= steps:
                        break
                if step == epoch_start:
                    raise RuntimeError(f"the task's training batches for epoch {epoch} are empty")
                epoch += 1
                if step < steps and not eval_every:
                    evaluate(final=False)
            final = evaluate(final=True)
        except Diverged as exc:
            status, reason, diverged_step = "diverged", str(exc), exc.step
            # keep what the run measured: the mean of the good losses since the last record, then the bad one
            first = step - len(window) + 1  # the step of window[0]
            good = torch.stack(window[: exc.step - first]).tolist() if exc.step > first else []
            lr = float(optimizer.param_groups[0]["lr"])
            if good:
                last_train_loss = sum(good) / len(good)
                record({"split": "train", "loss": last_train_loss, "lr": lr}, at=exc.step - 1)
            record({"split": "train", "loss": exc.value, "lr": lr, "diverged": True}, at=exc.step)
            step = exc.step - 1  # steps completed with a good loss
            final = {}
            log.warning("Run diverged: %s", reason)

    throughput = timer.summary(task.unit)
    return {
        "status": status,
        "reason": reason,
        "diverged_step": diverged_step,
        "steps": step,
        "epochs": epoch,
        "final_train_loss": last_train_loss,
        "final_metric": final.get(task.metric),
        **{f"final_{k}": v for k, v in final.items() if isinstance(v, (int, float, str))},
        "train_time_s": time.perf_counter() - start - eval_s - probe_s,
        "eval_time_s": eval_s,
        "memory_probe_s": probe_s,
        **(memory.record() if memory is not None else {}),
        **throughput,
        "throughput": throughput[f"{task.unit}_per_s"],
    }
