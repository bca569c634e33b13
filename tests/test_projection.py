"""Projected (fake tensors) and measured (real tensors) memory of one training step agree, category by category."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from optbench.memtrack import CATEGORIES, measure_step
from optbench.optim.factory import optimizer_about
from optbench.precision import PRECISIONS
from optbench.projection import project_step, project_steps
from optbench.tasks.transformer import Seq2SeqTransformer


def mlp():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 10))


def mlp_batch():
    g = torch.Generator().manual_seed(0)
    return torch.randn(32, 784, generator=g), torch.randint(0, 10, (32,), generator=g)


def mlp_loss(model, batch):
    return F.cross_entropy(model(batch[0]), batch[1])


def mt():
    torch.manual_seed(0)
    return Seq2SeqTransformer(1000, 0, d_model=64, heads=4, enc_layers=2, dec_layers=2, ffn=128, dropout=0.0)


def mt_batch():
    g = torch.Generator().manual_seed(0)
    return torch.randint(4, 1000, (16, 12), generator=g), torch.randint(4, 1000, (16, 13), generator=g)


def mt_loss(model, batch):
    src, tgt = batch
    return F.cross_entropy(model(src, tgt[:, :-1]).flatten(0, 1), tgt[:, 1:].flatten())


def gpt():
    from optbench.tasks.gpt import GPT

    torch.manual_seed(0)
    return GPT(500, 16, d_model=32, heads=2, layers=2, ffn=64)


def gpt_batch():
    return (torch.randint(0, 500, (8, 17), generator=torch.Generator().manual_seed(0)),)


def gpt_loss(model, batch):
    (windows,) = batch
    return F.cross_entropy(model(windows[:, :-1]).flatten(0, 1), windows[:, 1:].flatten())


def measured(build, build_opt, make_batch, loss, precision):
    model = precision.prepare_model(build())
    opt = build_opt(model)
    batch = make_batch()
    create_graph = optimizer_about(opt).create_graph

    def step():
        opt.zero_grad(set_to_none=True)
        with precision.autocast(torch.device("cpu")):
            value = loss(model, batch)
        value.backward(create_graph=create_graph)
        opt.step()

    step()
    return measure_step(step, model, opt, torch.device("cpu"))


OPTIMIZERS = {
    "adam_foreach": lambda m: torch.optim.Adam(m.parameters(), foreach=True),
    "adam_fused": lambda m: torch.optim.Adam(m.parameters(), fused=True),
    "sgd_momentum": lambda m: torch.optim.SGD(m.parameters(), lr=0.1, momentum=0.9),
    "adagrad": lambda m: torch.optim.Adagrad(m.parameters()),
}


FAST = (
    [("mlp", name, "fp32") for name in sorted(OPTIMIZERS)]
    + [("mt", "adam_foreach", precision) for precision in ("fp32", "bf16-mixed", "bf16")]
    + [("gpt", "adam_foreach", precision) for precision in ("fp32", "bf16-mixed")]
)
FULL = [
    (model, name, precision)
    for model in ("mlp", "mt")
    for name in sorted(OPTIMIZERS)
    for precision in ("fp32", "bf16-mixed", "bf16")
    if (model, name, precision) not in FAST and not (name == "adam_fused" and precision == "bf16")
]  # torch's fused CPU Adam takes no bfloat16 parameters


def check(model, opt_name, precision):
    build, make_batch, loss = {
        "mlp": (mlp, mlp_batch, mlp_loss),
        "mt": (mt, mt_batch, mt_loss),
        "gpt": (gpt, gpt_batch, gpt_loss),
    }[model]
    args = (build, OPTIMIZERS[opt_name], make_batch, loss, PRECISIONS[precision])
    real, fake = measured(*args), project_step(*args)
    for category in CATEGORIES:
        assert fake.at_peak[category] == pytest.approx(real.at_peak[category], rel=0.02, abs=1024), category
    assert fake.peak == pytest.approx(real.peak, rel=0.02)
    assert fake.step_transient == pytest.approx(real.step_transient, rel=0.02, abs=1024)


@pytest.mark.parametrize(("model", "opt_name", "precision"), FAST)
def test_projection_equals_measurement_in_every_category(model, opt_name, precision):
    check(model, opt_name, precision)


@pytest.mark.slow
@pytest.mark.parametrize(("model", "opt_name", "precision"), FULL)
def test_projection_equals_measurement_for_every_optimizer_and_precision(model, opt_name, precision):
    check(model, opt_name, precision)


def optbench_optimizers():
    from optbench.optim import available_optimizers, build_optimizer
    from optbench.optim.factory import load_optimizer_config

    return {n: (lambda m, n=n: build_optimizer(load_optimizer_config(n), m)) for n in available_optimizers()}


# Steps that read a tensor's value on the host (Prodigy's step-size estimate, torchao's quantisation) cannot run
# on fake tensors: the memory report leaves them out with a note (their state count is still analytic).
DATA_DEPENDENT = {"prodigy", "adamw8bit"}


def check_all(build, optimizers, make_batch, loss, precision):
    """project_steps (one forward and backward for all optimizers) against a measured step per optimizer."""
    errors = {}
    fake = project_steps(build, optimizers, make_batch, loss, precision, on_error=errors.__setitem__)
    assert set(errors) <= DATA_DEPENDENT, errors
    for name, build_opt in optimizers.items():
        if name in errors:
            continue
        real = measured(build, build_opt, make_batch, loss, precision)
        for category in CATEGORIES:
            assert fake[name].at_peak[category] == pytest.approx(real.at_peak[category], rel=0.02, abs=1024), (
                name,
                category,
            )
        assert fake[name].peak == pytest.approx(real.peak, rel=0.02), name
        assert fake[name].step_transient == pytest.approx(real.step_transient, rel=0.02, abs=1024), name


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_one_projection_serves_every_optbench_optimizer(precision):
    check_all(mlp, optbench_optimizers(), mlp_batch, mlp_loss, PRECISIONS[precision])


@pytest.mark.slow
@pytest.mark.parametrize("precision", ["fp32", "bf16-mixed"])
def test_transformer_base_at_a_small_batch_projects_as_measured(precision):
    """The memory report's Transformer-base (63M parameters) at 4 x (16 + 16) tokens instead of its 128 x 32."""
    from optbench.report.model_zoo import seq2seq_transformer

    zoo = seq2seq_transformer(
        "transformer_base",
        "Transformer-base",
        37000,
        {"d_model": 512, "heads": 8, "enc_layers": 6, "dec_layers": 6, "ffn": 2048, "dropout": 0.0},
        4,
        16,
        16,
    )
    names = ("adam", "adafactor", "sgd")
    optimizers = {n: b for n, b in optbench_optimizers().items() if n in names}

    def build():
        torch.manual_seed(0)
        return zoo.build()

    check_all(build, optimizers, zoo.make_batch, zoo.loss, PRECISIONS[precision])
