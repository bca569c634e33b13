"""Training memory per model, optimizer and precision: one whole training step projected on fake tensors.

Each model of ``conf/memory_model/`` (the task models, Transformer-base, GPT-2 XL, a Llama-style 7B, T5-11B) is
built under ``FakeTensorMode`` in the precision's parameter dtype and runs forward, backward and every optimizer's
own ``step`` (``optbench.projection``), so nothing is allocated and an 11B model is projected on a laptop. Its
peak is split as ``optbench.memtrack`` splits a measured step: parameters, gradients, optimizer state, the
optimizer step's temporaries, activations (saved for backward), backward temporaries. ``tests/test_projection.py``
checks the projection against measurement on real tensors for the models that fit.
"""

from __future__ import annotations

import sys

import pandas as pd

from optbench.errors import OptbenchError
from optbench.memory import analytic_state_bytes
from optbench.memtrack import CATEGORIES
from optbench.optim import available_optimizers, build_optimizer
from optbench.optim.factory import load_optimizer_config
from optbench.precision import PRECISIONS
from optbench.progress import progress
from optbench.projection import project_steps
from optbench.report.model_zoo import load_model, n_parameters
from optbench.units import human_bytes, human_count

# Accelerator memory sizes the table checks a step against (GiB).
FITS_GIB = (24, 40, 80)
SHOWN = ("params", "grads", "state", "step_temporaries", "activations", "temporaries")
COLUMN = {
    "params": "params",
    "grads": "grads",
    "state": "state",
    "step_temporaries": "step temps",
    "activations": "activations",
    "temporaries": "bwd temps",
}


def fits(peak: float) -> str:
    """Whether a peak fits each accelerator size of FITS_GIB, e.g. '24:no 40:yes 80:yes'."""
    return " ".join(f"{g}:{'yes' if peak <= g * 2**30 else 'no'}" for g in FITS_GIB)


def memory_table(models: list[str], optimizers: list[str] | None = None, precisions: list[str] | None = None):
    """One row per (model, precision, optimizer): the bytes of each category at the step's peak, the peak, the
    optimizer step's rise above its state, state / parameter bytes, and the analytic state count. An optimizer
    whose extra is not installed, or whose step cannot run on fake tensors, is left out with a note on stderr and
    in ``table.attrs["left_out"]``: {model: {optimizer: why}}, which the tables' footnotes list."""
    left_out: dict[tuple[str, str], str] = {}
    names = optimizers or available_optimizers()
    unknown = [n for n in names if n not in available_optimizers()]
    if unknown:
        raise OptbenchError(f"report.optimizers names {unknown}, not optimizers; choose from {available_optimizers()}.")
    bad = [n for n in precisions or [] if n not in PRECISIONS]
    if bad:
        raise OptbenchError(f"report.precisions names {bad}, not precisions; choose from {list(PRECISIONS)}.")
    zoos = {name: load_model(name) for name in models}  # every model file is checked before the first projection
    precisions = precisions or list(PRECISIONS)
    with progress(len(zoos) * len(precisions) * len(names), "memory projection", "optimizer", final_line=False) as bar:
        rows = _project(zoos, names, precisions, left_out, bar)
    by_model: dict[str, dict[str, str]] = {}
    for (model, name), why in left_out.items():
        print(f"optbench-report: memory: {name} left out of {model} ({why})", file=sys.stderr)
        by_model.setdefault(model, {})[name] = why
    table = pd.DataFrame(rows)
    table.attrs["left_out"] = by_model
    return table


def left_out(table: pd.DataFrame, model: str) -> dict[str, str]:
    """{optimizer: why} of those ``memory_table`` left out of ``model``'s rows."""
    return table.attrs.get("left_out", {}).get(model, {})


def left_out_note(table: pd.DataFrame, model: str) -> str:
    """The footnote naming the optimizers a model's table left out and why; empty when none was."""
    missing = left_out(table, model)
    if not missing:
        return ""
    return "Left out (their step could not be projected): " + "; ".join(f"{n} ({why})" for n, why in missing.items())


def _builder(name: str, bar):
    def build(model):
        bar.update(1)  # one optimizer's projection started
        return build_optimizer(load_optimizer_config(name), model)

    return build


def _project(zoos: dict, names: list[str], precisions: list[str], left_out: dict[str, str], bar) -> list[dict]:
    rows = []
    for model_name, zoo in zoos.items():
        n_params = n_parameters(zoo)
        for precision_name in precisions:
            precision = PRECISIONS[precision_name]
            builders = {n: _builder(n, bar) for n in names}
            analytic: dict[str, int | None] = {}
            try:
                projected = project_steps(
                    zoo.build,
                    builders,
                    zoo.make_batch,
                    zoo.loss,
                    precision,
                    inspect=lambda n, opt, seen=analytic: seen.__setitem__(n, analytic_state_bytes(opt)),
                    on_error=lambda n, e, m=model_name, p=precision_name: left_out.setdefault(
                        (m, n), f"at {p}: {str(e).splitlines()[0] if isinstance(e, OptbenchError) else repr(e)[:200]}"
                    ),
                )
            except Exception as e:  # a model file's configuration the builder or the model code rejects
                raise OptbenchError(
                    f"memory model {model_name!r} (conf/memory_model/{model_name}.yaml) could not be projected at "
                    f"{precision_name}: {type(e).__name__}: {e}"
                ) from e
            for opt_name, m in projected.items():
                param_bytes = m.resident["params"]
                row = {
                    "model": model_name,
                    "label": zoo.label,
                    "batch": zoo.batch,
                    "params": n_params,
                    "precision": precision_name,
                    "optimizer": opt_name,
                    **{f"{c}_bytes": m.at_peak[c] for c in CATEGORIES},
                    "peak_bytes": m.peak,
                    "passes_peak_bytes": m.passes_peak,
                    **{f"passes_{c}_bytes": m.passes_at_peak.get(c, 0) for c in CATEGORIES},
                    "step_transient_bytes": m.step_transient,
                    "resident_params_bytes": param_bytes,
                    "resident_state_bytes": m.resident["state"],
                    "analytic_state_bytes": analytic.get(opt_name),
                    "state_per_param_bytes": m.resident["state"] / param_bytes if param_bytes else float("nan"),
                }
                rows.append(row)
    return rows


def memory_display(table: pd.DataFrame) -> pd.DataFrame:
    """One model's rows in human units: optimizers as rows, categories as columns."""
    out = pd.DataFrame(
        {
            "optimizer": table["optimizer"],
            "precision": table["precision"],
            **{COLUMN[c]: table[f"{c}_bytes"].map(human_bytes) for c in SHOWN},
            "peak": table["peak_bytes"].map(human_bytes),
            "state / params": table["state_per_param_bytes"].map(lambda r: f"{r:.3g}"),
            "fits in (GiB)": table["peak_bytes"].map(fits),
        }
    )
    return out.reset_index(drop=True)


def model_caption(table: pd.DataFrame) -> str:
    first = table.iloc[0]
    return (
        f"{first['label']}: {human_count(first['params'])} parameters, one training step on {first['batch']}; "
        "bytes at the step's peak by category (projected on fake tensors)"
    )
