"""Optimizer-state memory for real model shapes, measured by running the optimizers' own step code.

Models up to ``real_max_params`` parameters are allocated on the CPU and stepped with random gradients; larger ones
(GPT-2 XL, T5-11B) are built on the ``meta`` device, where the optimizers create their state tensors with the same
code but nothing is allocated, so their bytes are still counted from the tensors the optimizer made.
"""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd
import torch
from omegaconf import OmegaConf
from torch import nn

from optbench.memory import analytic_state_bytes, measured_state_bytes
from optbench.optim import available_optimizers, build_optimizer
from optbench.optim.factory import load_optimizer_config
from optbench.paths import config_dir
from optbench.tasks.mnist_mlp import mlp
from optbench.tasks.transformer import Seq2SeqTransformer
from optbench.units import human_bytes, human_count


def _shapes_module(shapes: dict[str, tuple[int, ...]]) -> nn.Module:
    module = nn.Module()
    module.params = nn.ParameterDict({k.replace(".", "_"): nn.Parameter(torch.empty(s)) for k, s in shapes.items()})
    return module


def gpt2_shapes(n_layer=48, d=1600, vocab=50257, n_ctx=1024) -> dict[str, tuple[int, ...]]:
    """GPT-2 XL (Radford et al. 2019): 1.56B parameters, tied input/output embedding."""
    shapes = {"wte": (vocab, d), "wpe": (n_ctx, d), "ln_f.w": (d,), "ln_f.b": (d,)}
    for i in range(n_layer):
        shapes |= {
            f"h{i}.ln_1.w": (d,),
            f"h{i}.ln_1.b": (d,),
            f"h{i}.attn.c_attn.w": (d, 3 * d),
            f"h{i}.attn.c_attn.b": (3 * d,),
            f"h{i}.attn.c_proj.w": (d, d),
            f"h{i}.attn.c_proj.b": (d,),
            f"h{i}.ln_2.w": (d,),
            f"h{i}.ln_2.b": (d,),
            f"h{i}.mlp.c_fc.w": (d, 4 * d),
            f"h{i}.mlp.c_fc.b": (4 * d,),
            f"h{i}.mlp.c_proj.w": (4 * d, d),
            f"h{i}.mlp.c_proj.b": (d,),
        }
    return shapes


def t5_shapes(n_layer=24, d=1024, d_ff=65536, heads=128, d_kv=128, vocab=32128) -> dict[str, tuple[int, ...]]:
    """T5-11B (Raffel et al. 2020): 11.3B parameters, shared embedding, no biases, relative position buckets."""
    inner = heads * d_kv
    attn = lambda p: {f"{p}.q": (inner, d), f"{p}.k": (inner, d), f"{p}.v": (inner, d), f"{p}.o": (d, inner)}  # noqa: E731
    shapes = {
        "shared": (vocab, d),
        "enc.final_ln": (d,),
        "dec.final_ln": (d,),
        "enc.rel_bias": (32, heads),
        "dec.rel_bias": (32, heads),
    }
    for i in range(n_layer):
        shapes |= attn(f"enc{i}.self") | {
            f"enc{i}.ln1": (d,),
            f"enc{i}.ln2": (d,),
            f"enc{i}.wi": (d_ff, d),
            f"enc{i}.wo": (d, d_ff),
        }
        shapes |= (
            attn(f"dec{i}.self")
            | attn(f"dec{i}.cross")
            | {
                f"dec{i}.ln1": (d,),
                f"dec{i}.ln2": (d,),
                f"dec{i}.ln3": (d,),
                f"dec{i}.wi": (d_ff, d),
                f"dec{i}.wo": (d, d_ff),
            }
        )
    return shapes


def task_model(task: str) -> nn.Module:
    cfg = OmegaConf.load(config_dir() / "task" / f"{task}.yaml")
    if task == "mnist_mlp":
        return mlp([784, *cfg.hidden, 10])
    return Seq2SeqTransformer(cfg.vocab_size, 0, **cfg.model)


MODELS: dict[str, Callable[[], nn.Module]] = {
    "mnist_mlp": lambda: task_model("mnist_mlp"),
    "transformer_mt": lambda: task_model("transformer_mt"),
    # Vaswani et al. (2017) base: d=512, 8 heads, 6+6 layers, ffn 2048, shared 37k BPE vocabulary (63M parameters)
    "transformer_base": lambda: Seq2SeqTransformer(
        37000, 0, d_model=512, heads=8, enc_layers=6, dec_layers=6, ffn=2048
    ),
    "gpt2_xl": lambda: _shapes_module(gpt2_shapes()),
    "t5_11b": lambda: _shapes_module(t5_shapes()),
}


def state_bytes_after_steps(model: nn.Module, optimizer_name: str, steps: int = 2) -> tuple[int, int]:
    """(measured, analytic) state bytes after ``steps`` optimizer steps with random (or meta) gradients."""
    params = [p for p in model.parameters() if p.requires_grad]
    opt = build_optimizer(load_optimizer_config(optimizer_name), params)
    for _ in range(steps):
        for p in params:
            p.grad = torch.randn_like(p) if p.device.type != "meta" else torch.empty_like(p)
        opt.step()
    return measured_state_bytes(opt), analytic_state_bytes(opt)


def memory_table(models: list[str], optimizers: list[str] | None = None, real_max_params: float = 2e8) -> pd.DataFrame:
    """One row per (model, optimizer): parameters, measured and analytic state bytes, ratio to parameter bytes."""
    rows = []
    for model_name in models:
        if model_name not in MODELS:
            from optbench.errors import OptbenchError

            raise OptbenchError(f"model {model_name!r} is not in the memory table's zoo; choose from {list(MODELS)}.")
        with torch.device("meta"):
            n_params = sum(p.numel() for p in MODELS[model_name]().parameters())
        device = "cpu" if n_params <= real_max_params else "meta"
        for opt_name in optimizers or available_optimizers():
            torch.manual_seed(0)
            with torch.device(device):
                model = MODELS[model_name]()
            measured, analytic = state_bytes_after_steps(model, opt_name)
            param_bytes = sum(p.numel() * p.element_size() for p in model.parameters())
            rows.append(
                {
                    "model": model_name,
                    "params": n_params,
                    "optimizer": opt_name,
                    "measured on": device,
                    "state bytes": measured,
                    "analytic bytes": analytic,
                    "state / params": measured / param_bytes,
                }
            )
            del model
    return pd.DataFrame(rows)


def memory_display(table: pd.DataFrame) -> pd.DataFrame:
    """The memory table in human units (parameters as 1.56B, bytes as MiB/GiB; unknown analytic counts as '-')."""
    out = table.copy()
    out["params"] = out["params"].map(human_count)
    for col in ("state bytes", "analytic bytes"):
        out[col] = out[col].map(human_bytes)
    out["state / params"] = out["state / params"].map(lambda r: f"{r:.3g}")
    return out.rename(columns={"state bytes": "state", "analytic bytes": "analytic"})
