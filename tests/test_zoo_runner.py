"""What the runner honours for optimizers that declare it: no scheduler and train()/eval() (Schedule-Free), a
backward with create_graph (Sophia), a compiled first step kept out of training time (torchao's 8-bit AdamW), and
the install hint when an optimizer's extra is missing."""

from __future__ import annotations

import pytest

from optbench import runner
from optbench.optim import build_optimizer
from optbench.optim.factory import load_optimizer_config

from .test_cli import optbench

pytest.importorskip("pytorch_optimizer", reason="the zoo extra is not installed: pip install 'optbench[zoo]'")


def test_schedule_free_runs_without_a_scheduler_and_is_evaluated_at_its_average(monkeypatch, make_config):
    from optbench.tasks.functions2d import Function2D

    built, modes = [], []
    real_build, real_evaluate = runner.build_run_optimizer, Function2D.evaluate

    def build(cfg, model, *rest):
        built.append(real_build(cfg, model, *rest))
        return built[-1]

    def evaluate(self, model, final=False):
        modes.append(built[-1].param_groups[0]["train_mode"])
        return real_evaluate(self, model, final)

    monkeypatch.setattr(Function2D, "evaluate", evaluate)
    monkeypatch.setattr(runner, "build_run_optimizer", build)
    summary = runner.run(
        make_config("task=rosenbrock", "optimizer=schedulefree_adamw", "task.max_steps=20", "task.eval_every=5")
    )
    assert summary["status"] == "finished" and summary["schedule"].startswith("none")
    assert len(modes) >= 4 and not any(modes)  # every evaluation saw the averaged iterate (eval mode)


def test_sophia_gets_the_graph_of_its_gradients(make_config):
    summary = runner.run(make_config("task=rosenbrock", "optimizer=sophia", "task.max_steps=12"))
    assert summary["status"] == "finished", summary.get("reason")
    assert summary["state_bytes"] == summary["state_bytes_analytic"] == 3 * 2 * 4


def test_sophia_differentiates_twice_through_attention(make_config, data_root):
    """The CPU flash-attention kernel's backward has no derivative: a create_graph optimizer's passes take SDPA's
    math kernel, and Sophia trains the decoder-only LM."""
    cfg = make_config("task=lm_tiny", f"data_root={data_root}", "optimizer=sophia", "task.max_steps=12")
    summary = runner.run(cfg)
    assert summary["status"] == "finished", summary.get("reason")
    assert summary["final_metric"] < summary["final_unigram_loss"] + 1.0


def test_a_compiled_step_is_built_before_the_clock_starts(make_config):
    pytest.importorskip("torchao", reason="the lowbit extra is not installed: pip install 'optbench[lowbit]'")
    cfg = make_config("task=rosenbrock", "optimizer=adamw8bit", "task.max_steps=10", "memory_probe_steps=[]")
    summary = runner.run(cfg)
    assert summary["status"] == "finished", summary.get("reason")
    assert summary["optimizer_setup_s"] > summary["train_time_s"]  # the compile happened in setup, not training


def test_a_missing_extra_names_the_install_command(tmp_path):
    fake = tmp_path / "hide" / "pytorch_optimizer"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text(
        "raise ModuleNotFoundError(\"No module named 'pytorch_optimizer'\", name='pytorch_optimizer')\n"
    )
    out = optbench(tmp_path, "optimizer=lion", "task=rosenbrock", "logger=none", env={"PYTHONPATH": str(fake.parent)})
    assert out.returncode != 0 and "Traceback" not in out.stderr
    assert "optimizer 'lion' needs pytorch_optimizer.Lion" in out.stderr
    assert "pip install 'optbench[zoo]'" in out.stderr
    assert not (tmp_path / "results" / "store" / "runs").exists()


def test_every_switch_reaches_the_record(make_config):
    cfg = make_config(
        "task=rosenbrock",
        "optimizer=adam",
        "optimizer.bias_correction=false",
        "optimizer.weight_decay_mode=decoupled",
        "optimizer.weight_decay=0.01",
        "wrapper=lookahead",
        "wrapper.k=3",
        "task.max_steps=9",
    )
    summary = runner.run(cfg)
    assert summary["status"] == "finished"
    assert summary["label"] == "adam, no bias correction, decoupled weight decay, lookahead (k=3, alpha=0.5)"
    assert summary["run_id"].startswith("rosenbrock-adam.nobc.decoupled.lookahead-k3-alpha0.5-")
    assert summary["state_bytes"] == summary["state_bytes_analytic"] == 3 * 2 * 4 + 4  # m, v, slow; one step


def test_muon_builds_from_the_mnist_model():
    from optbench.tasks.mnist_mlp import mlp

    model = mlp([784, 32, 16, 10])
    opt = build_optimizer(load_optimizer_config("muon"), model)
    muon, adamw = (sum(p.numel() for g in part.param_groups for p in g["params"]) for part in opt.parts)
    assert muon == 784 * 32 + 32 * 16 and adamw == 16 * 10 + 32 + 16 + 10


def test_a_wrapper_passes_on_what_its_base_optimizer_declares(make_config):
    summary = runner.run(make_config("task=rosenbrock", "optimizer=sophia", "wrapper=lookahead", "task.max_steps=12"))
    assert summary["status"] == "finished", summary.get("reason")  # the backward kept its graph for Sophia
    assert summary["family"] == "matrix" and summary["label"] == "sophia, lookahead (k=5, alpha=0.5)"
