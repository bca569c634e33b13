"""One contract for every optimizer in conf/optimizer/ (the folder is the registry; no second list here)."""

from __future__ import annotations

import io

import pytest
import torch

from optbench.errors import OptbenchError
from optbench.memory import analytic_state_bytes, measured_state_bytes
from optbench.optim import available_optimizers, build_optimizer
from optbench.optim.about import read_about
from optbench.optim.factory import load_optimizer_config, optimizer_about

from .conftest import optimizer_names

NAMES = optimizer_names()
QUADRATIC_LR = 0.05  # one step size for every optimizer on this well-conditioned problem
# pytorch-optimizer's SophiaH clips each coordinate's step to lr * p (p = 0.01): the same largest step needs lr / p
QUADRATIC_LR_FOR = {"sophia": QUADRATIC_LR / 0.01}


def test_registry_is_the_folder_and_has_the_eight_and_the_zoo():
    assert NAMES == available_optimizers()
    assert {"sgd", "momentum", "adagrad", "rmsprop", "adam", "adamw", "adafactor", "adax"} <= set(NAMES)
    assert {"nadam", "radam", "muon", "lion", "soap", "came", "sm3", "adam_mini", "schedulefree_adamw"} <= set(NAMES)
    assert {"adan", "lamb", "adopt", "ademamix", "mars", "prodigy", "sophia", "signum", "adamw8bit"} <= set(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_every_optimizer_declares_where_it_comes_from_its_paper_and_its_defaults(name):
    about = read_about(load_optimizer_config(name))
    assert about.source and about.paper and about.defaults and about.family != "other"


def optimizer_cfg(name: str, **overrides):
    cfg = load_optimizer_config(name)
    for k, v in overrides.items():
        cfg[k] = v
    return cfg


def quadratic(seed=0):
    g = torch.Generator().manual_seed(seed)
    a = torch.randn(6, 6, generator=g)
    hessian = a @ a.T / 6 + torch.eye(6)
    target = torch.randn(6, 4, generator=g)
    return lambda w: 0.5 * ((w - target) * (hessian @ (w - target))).sum()


class Holder(torch.nn.Module):
    """One free tensor as a model (optimizers that partition a model's parameters need a module)."""

    def __init__(self, w):
        super().__init__()
        self.w = torch.nn.Parameter(w)


def train(opt, w, f, steps, create_graph=False):
    for _ in range(steps):
        opt.zero_grad()
        f(w).backward(create_graph=create_graph)
        opt.step()


def needs_graph(opt) -> bool:
    return optimizer_about(opt).create_graph


@pytest.mark.parametrize("name", NAMES)
def test_builds_and_lowers_a_quadratic(name):
    f = quadratic()
    # start away from zero: Adafactor scales its step by max(1e-3, RMS(param))
    holder = Holder(torch.ones(6, 4))
    w = holder.w
    opt = build_optimizer(optimizer_cfg(name, lr=QUADRATIC_LR_FOR.get(name, QUADRATIC_LR)), holder)
    start = f(w).item()
    train(opt, w, f, 200, needs_graph(opt))
    assert f(w).item() < 0.5 * start


@pytest.mark.parametrize("name", NAMES)
def test_state_dict_round_trip_continues_identically(name):
    f = quadratic(1)
    holder = Holder(torch.full((6, 4), 0.1))
    w = holder.w
    opt = build_optimizer(optimizer_cfg(name), holder)
    cg = needs_graph(opt)
    train(opt, w, f, 5, cg)
    buf = io.BytesIO()
    torch.save({"w": w.detach().clone(), "opt": opt.state_dict()}, buf)
    buf.seek(0)
    saved = torch.load(buf, weights_only=True)
    holder2 = Holder(saved["w"].clone())
    w2 = holder2.w
    opt2 = build_optimizer(optimizer_cfg(name), holder2)
    opt2.load_state_dict(saved["opt"])
    torch.manual_seed(0)  # optimizers that sample (Sophia's Hutchinson probes) draw the same numbers
    train(opt, w, f, 5, cg)
    torch.manual_seed(0)
    train(opt2, w2, f, 5, cg)
    torch.testing.assert_close(w2, w, rtol=0, atol=0)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("lr", [-1e-3, 0.0])
def test_rejects_non_positive_lr(name, lr):
    with pytest.raises(OptbenchError, match=rf"optimizer.lr={lr}.*{name}"):
        build_optimizer(optimizer_cfg(name, lr=lr), Holder(torch.zeros(2)))


@pytest.mark.parametrize("name", NAMES)
def test_analytic_state_bytes_equal_measured(name):
    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Embedding(11, 8),
        torch.nn.Linear(8, 64),
        torch.nn.ReLU(),
        torch.nn.Linear(64, 128),
        torch.nn.ReLU(),
        torch.nn.LayerNorm(128),
        torch.nn.Linear(128, 3),
    )  # an embedding, a 64 x 128 matrix large enough for 8-bit state, vectors, an output layer
    opt = build_optimizer(optimizer_cfg(name), model)
    x, y = torch.randint(0, 11, (4,)), torch.tensor([0, 1, 2, 0])
    for _ in range(2):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(x), y).backward(create_graph=needs_graph(opt))
        opt.step()
    analytic = analytic_state_bytes(opt)
    assert analytic is not None and measured_state_bytes(opt) == analytic


@pytest.mark.parametrize(
    ("name", "key", "value"),
    [
        ("adam", "betas", [0.9, 1.0]),
        ("adamw", "betas", [-0.1, 0.9]),
        ("adax", "betas", [0.9, 1.5]),
        ("momentum", "momentum", 1.0),
        ("adafactor", "beta1", 1.2),
    ],
)
def test_rejects_betas_outside_unit_interval(name, key, value):
    with pytest.raises(OptbenchError, match=rf"optimizer.{key}=.*\[0, 1\)"):
        build_optimizer(optimizer_cfg(name, **{key: value}), [torch.zeros(2, requires_grad=True)])


@pytest.mark.parametrize("name", ["adam", "adamw", "adax", "adafactor"])
@pytest.mark.parametrize("value", ["maybe", 1])
def test_rejects_a_fused_switch_that_is_not_auto_or_a_bool(name, value):
    with pytest.raises(OptbenchError, match=rf"optimizer.fused={value!r}.*auto, true, false or null"):
        build_optimizer(optimizer_cfg(name, fused=value), [torch.zeros(2, requires_grad=True)])


def test_fused_auto_picks_torch_kernels_and_leaves_ours_to_choose_per_tensor():
    cpu = [torch.zeros(2, 2, requires_grad=True)]
    meta = [torch.zeros(2, 2, device="meta", requires_grad=True)]
    for name in ("adam", "adamw"):
        assert build_optimizer(optimizer_cfg(name), cpu).defaults["fused"] is True
        assert build_optimizer(optimizer_cfg(name), meta).defaults["fused"] is None  # no kernel on meta
    for name in ("adax", "adafactor"):  # None: our optimizers decide per tensor which kernel runs
        assert build_optimizer(optimizer_cfg(name), cpu).defaults["fused"] is None
        assert build_optimizer(optimizer_cfg(name, fused=False), cpu).defaults["fused"] is False


def test_the_mnist_shootout_and_the_readme_list_every_optimizer():
    from omegaconf import OmegaConf

    from .conftest import REPO

    shootout = OmegaConf.load(REPO / "conf" / "experiment" / "optimizer_shootout.yaml")
    assert sorted(shootout.hydra.sweeper.params.optimizer.split(",")) == NAMES
    readme = (REPO / "README.md").read_text()
    table = readme[readme.index("## Optimizers beyond the eight") :]
    for name in NAMES:
        assert f"| `{name}` |" in table, name
