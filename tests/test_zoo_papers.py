"""Library optimizers against short transcriptions of their papers' updates, where a library's parametrisation
could differ from the paper (pytorch-optimizer's Lion, Signum, AdEMAMix), and the Muon hybrid's split."""

from __future__ import annotations

import pytest
import torch

from optbench.optim import build_optimizer
from optbench.optim.factory import load_optimizer_config
from optbench.optim.muon_hybrid import split_for_muon

pytest.importorskip("pytorch_optimizer", reason="the zoo extra is not installed: pip install 'optbench[zoo]'")

F64 = torch.float64


def steps(name, p0, grads, **overrides):
    cfg = load_optimizer_config(name)
    for k, v in overrides.items():
        cfg[k] = v
    p = p0.clone().requires_grad_(True)
    opt = build_optimizer(cfg, [p])
    for g in grads:
        p.grad = g.clone()
        opt.step()
    return p.detach()


def data(shape=(5, 4), n=6, seed=0):
    gen = torch.Generator().manual_seed(seed)
    p0 = torch.randn(shape, generator=gen, dtype=F64)
    return p0, [torch.randn(shape, generator=gen, dtype=F64) for _ in range(n)]


def test_lion_is_algorithm_2_of_chen_et_al():
    p0, grads = data()
    lr, (b1, b2), wd = 1e-2, (0.9, 0.99), 0.1
    theta, m = p0.clone(), torch.zeros_like(p0)
    for g in grads:
        c = b1 * m + (1 - b1) * g  # interpolate, take the sign, then decay decoupled
        theta = theta - lr * (torch.sign(c) + wd * theta)
        m = b2 * m + (1 - b2) * g
    torch.testing.assert_close(steps("lion", p0, grads, lr=lr, weight_decay=wd), theta, rtol=1e-12, atol=1e-12)


def test_signum_is_the_sign_of_an_exponential_momentum():
    p0, grads = data(seed=1)
    lr, beta = 1e-2, 0.9
    theta, m = p0.clone(), torch.zeros_like(p0)
    for g in grads:  # Bernstein et al. 2018, Algorithm 3: m = beta m + (1 - beta) g; theta -= lr sign(m)
        m = beta * m + (1 - beta) * g
        theta = theta - lr * torch.sign(m)
    torch.testing.assert_close(steps("signum", p0, grads, lr=lr), theta, rtol=1e-12, atol=1e-12)


def test_ademamix_is_algorithm_1_of_pagliardini_et_al():
    p0, grads = data(seed=2)
    lr, (b1, b2, b3), alpha, eps = 1e-2, (0.9, 0.999, 0.9999), 5.0, 1e-8
    theta, m1, m2, v = p0.clone(), torch.zeros_like(p0), torch.zeros_like(p0), torch.zeros_like(p0)
    for t, g in enumerate(grads, 1):
        m1 = b1 * m1 + (1 - b1) * g
        m2 = b3 * m2 + (1 - b3) * g  # the slow EMA is not bias-corrected
        v = b2 * v + (1 - b2) * g * g
        m1_hat, v_hat = m1 / (1 - b1**t), v / (1 - b2**t)
        theta = theta - lr * (m1_hat + alpha * m2) / (v_hat.sqrt() + eps)
    torch.testing.assert_close(steps("ademamix", p0, grads, lr=lr), theta, rtol=1e-10, atol=1e-12)


def test_muon_takes_the_hidden_matrices_and_leaves_embeddings_output_and_vectors_to_adamw():
    from optbench.tasks.transformer import Seq2SeqTransformer

    model = Seq2SeqTransformer(vocab_size=50, pad_id=0, d_model=16, heads=2, enc_layers=1, dec_layers=1, ffn=32)
    hidden, rest = split_for_muon(model)
    names = {id(p): n for n, p in model.named_parameters()}
    assert all(p.dim() == 2 for p in hidden) and "embed.weight" in {names[id(p)] for p in rest}
    assert all(p.dim() == 1 for p in rest if names[id(p)] != "embed.weight")
    mlp = torch.nn.Sequential(torch.nn.Linear(8, 6), torch.nn.ReLU(), torch.nn.Linear(6, 4), torch.nn.Linear(4, 3))
    hidden, rest = split_for_muon(mlp)
    assert [tuple(p.shape) for p in hidden] == [(6, 8), (4, 6)]  # the output layer (3 x 4) goes to AdamW
    opt = build_optimizer(load_optimizer_config("muon"), mlp)
    assert [type(part).__name__ for part in opt.parts] == ["Muon", "AdamW"]
    assert len(opt.param_groups) == 2 and opt.param_groups[1]["lr"] == load_optimizer_config("muon").adamw_lr
