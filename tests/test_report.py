"""Reports from a store with known numbers: summary statistics, files written, memory table, Table 2."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from optbench.report.data import load_runs
from optbench.report.memory_table import memory_table
from optbench.report.model_zoo import available_models, load_model, n_parameters
from optbench.report.table2 import table2
from optbench.report.tables import summary_table, target_of
from optbench.tracking.store import RunStore


def fake_run(store, optimizer, lr, seed, final, losses, status="finished", state=1000, task="toy", **settings):
    """One record; ``settings``: more optimizer config keys (``weight_decay=0.5``), or task keys as ``task_<key>``."""
    opt = {k: v for k, v in settings.items() if not k.startswith("task_")}
    rid = f"{task}-{optimizer}-{lr}-{seed}" + "".join(f"-{k}{v}" for k, v in settings.items())
    task_cfg = {"name": task, "target": 0.9, **{k[5:]: v for k, v in settings.items() if k.startswith("task_")}}
    config = {"task": task_cfg, "optimizer": {"name": optimizer, "lr": lr, **opt}, "seed": seed}
    metrics = [
        {"step": 10 * (i + 1), "split": "train", "loss": v, "train_s": float(i + 1)} for i, v in enumerate(losses)
    ]
    metrics += [
        {"step": 10 * (i + 1), "split": "eval", "accuracy": final * (i + 1) / len(losses), "train_s": float(i + 1)}
        for i in range(len(losses))
    ]
    summary = {
        "run_id": rid,
        "task": task,
        "optimizer": optimizer,
        "lr": lr,
        "seed": seed,
        "status": status,
        "final_metric": final if status == "finished" else None,
        "metric_name": "accuracy",
        "unit": "examples",
        "throughput": 1000.0 + seed,
        "opt_step_time_s": 0.001,
        "state_bytes": state,
        "state_bytes_analytic": state,
        "peak_rss_bytes": 2**30,
        "tensor_bytes": 3 * state,
        "mem_peak_bytes": 10 * state + 5000,
        "train_time_s": 10.0 + seed + (5.0 if optimizer == "adam" else 0.0),
        "cuda_max_allocated_bytes": None,
        "sweep": "s",
        "tags": ["t"],
        "device": "cpu",
        "threads": 2,
        "torch_version": "2.x",
    }
    RunStore(store).commit(rid, config, metrics, summary)


@pytest.fixture
def store(tmp_path):
    root = tmp_path / "store"
    fake_run(root, "adam", 1e-3, 0, 0.90, [2.0, 1.0, 0.5])
    fake_run(root, "adam", 1e-3, 1, 0.96, [2.2, 1.2, 0.7])
    fake_run(root, "adam", 1e-2, 0, 0.50, [2.0, 1.5, 1.4])
    fake_run(root, "adam", 1e-1, 0, 0.0, [3.0], status="diverged")
    fake_run(root, "sgd", 1e-1, 0, 0.80, [2.0, 1.8, 1.6], state=0)
    fake_run(root, "sgd", 1e-1, 1, 0.82, [2.1, 1.9, 1.7], state=0)
    fake_run(root, "sgd", 1.0, 0, 0.0, [9.0], status="failed", state=0)  # failed runs are left out of reports
    return root


def test_summary_table_numbers(store):
    runs, metrics = load_runs(str(store), task="toy")
    assert len(runs) == 6
    table = summary_table(runs, metrics, target_of(runs, 0.9)).set_index("optimizer")
    assert table.loc["adam", "best lr"] == 1e-3 and table.loc["sgd", "best lr"] == 1e-1
    assert table.loc["adam", "accuracy mean"] == pytest.approx(0.93)
    assert table.loc["adam", "accuracy std"] == pytest.approx(np.std([0.90, 0.96], ddof=1))
    assert table.loc["adam", "final accuracy"] == "0.93 ± 0.042 (n=2)"
    assert table.loc["adam", "diverged"] == 1 and table.loc["sgd", "diverged"] == 0
    # adam seed 0 reaches 0.9 at its 3rd eval (3 s), seed 1 at its 3rd (0.96 * 3/3; 0.64 before): mean 3.0 s
    assert table.loc["adam", "time to target (s)"] == "3.0 (2/2)"
    assert table.loc["sgd", "time to target (s)"] == "- (0/2)"
    assert table.loc["adam", "examples/s"] == pytest.approx(1000.5) and table.loc["sgd", "state bytes"] == 0


def test_comparison_report_writes_figures_and_tables(store, tmp_path):
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "optbench.report",
            f"store_dir={store}",
            "filters.task=toy",
            f"out_root={tmp_path / 'results'}",
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={**os.environ},
        timeout=300,
    )
    assert out.returncode == 0, out.stderr
    folder = tmp_path / "results" / "toy"
    for stem in ("pareto", "curves", "lr_sensitivity", "memory", "throughput"):
        assert (folder / f"{stem}.png").stat().st_size > 10_000 and (folder / f"{stem}.pdf").is_file()
    assert "0.93 ± 0.042 (n=2)" in (folder / "summary.md").read_text()
    assert r"$\pm$" in (folder / "summary.tex").read_text()
    csv = pd.read_csv(folder / "summary.csv")
    assert set(csv["optimizer"]) == {"adam", "sgd"}

    missing = subprocess.run(
        [sys.executable, "-m", "optbench.report", f"store_dir={store}", "filters.task=nosuchtask"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=300,
    )
    assert missing.returncode == 2 and "no finished or diverged runs" in missing.stderr


def test_pareto_front_follows_the_tasks_direction():
    from optbench.report.figures import pareto_front

    cost, accuracy = [1.0, 2.0, 3.0, 2.5], [0.5, 0.9, 0.95, 0.8]  # the 4th costs more than the 2nd and is worse
    assert pareto_front(cost, accuracy, higher_is_better=True) == [0, 1, 2]
    assert pareto_front(cost, accuracy, higher_is_better=False) == [0]  # lower is better: the cheapest wins outright
    assert pareto_front([1.0, 1.0], [0.7, 0.7], higher_is_better=True) == [0, 1]  # ties beat neither


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"models": ["nosuch"]}, "conf/memory_model/nosuch.yaml"),
        ({"models": ["mnist_mlp"], "optimizers": ["nosuch"]}, "not optimizers; choose from"),
        ({"models": ["mnist_mlp"], "precisions": ["fp16"]}, "not precisions; choose from"),
    ],
)
def test_memory_table_names_a_bad_model_optimizer_or_precision(kwargs, match):
    from optbench.errors import OptbenchError

    with pytest.raises(OptbenchError, match=match):
        memory_table(**kwargs)


def test_reference_model_sizes():
    counts = {name: n_parameters(load_model(name)) for name in available_models()}
    assert counts["mnist_mlp"] == 784 * 1000 + 1000 * 500 + 500 * 100 + 100 * 10 + 1000 + 500 + 100 + 10
    assert counts["transformer_mt"] == 7_578_624  # tasks/transformer_mt/README.md
    assert counts["gpt2_xl"] == pytest.approx(1.558e9, rel=1e-3)  # GPT-2 XL: 1.5B
    assert counts["llama_7b"] == pytest.approx(6.74e9, rel=1e-3)  # LLaMA-7B
    assert counts["t5_11b"] == pytest.approx(11.3e9, rel=1e-2)  # T5-11B


def test_memory_table_projects_a_billion_parameter_step_without_allocating():
    table = memory_table(["mnist_mlp", "gpt2_xl"], ["adam", "adafactor", "sgd"], ["fp32"])
    assert (table["resident_state_bytes"] == table["analytic_state_bytes"]).all()
    big = table[(table["model"] == "gpt2_xl") & (table["precision"] == "fp32")].set_index("optimizer")
    n = 1_557_611_200
    assert big["params_bytes"].to_numpy() == pytest.approx(4 * n, rel=1e-6)
    assert big.loc["adam", "state_per_param_bytes"] == pytest.approx(2.0, rel=1e-6)
    assert big.loc["adafactor", "state_per_param_bytes"] < 0.01  # O(rows + cols) per matrix
    assert big.loc["sgd", "resident_state_bytes"] == 0
    assert (big["activations_bytes"] > 10 * 2**30).all()  # 8 x 1024 tokens through 48 layers
    # the same forward and backward for every optimizer: the peaks differ by the state (or the step's own peak)
    assert big.loc["adam", "peak_bytes"] - big.loc["sgd", "peak_bytes"] == pytest.approx(8 * n, rel=1e-3)
    half = memory_table(["mnist_mlp"], ["adam"], ["bf16"]).set_index("optimizer")
    assert half.loc["adam", "resident_state_bytes"] == 2 * 2 * 1_336_610 + 4 * 8  # two bf16 slots, 8 step counts
    small = table[(table["model"] == "mnist_mlp") & (table["precision"] == "fp32")].set_index("optimizer")
    # factored: rows + cols for each of the four weight matrices, full for the biases, one float32 step each
    rows_cols = (1000 + 784) + (500 + 1000) + (100 + 500) + (10 + 100)
    biases = 1000 + 500 + 100 + 10
    assert small.loc["adafactor", "resident_state_bytes"] == 4 * (rows_cols + biases) + 8 * 4


def test_table2_layout_from_runs():
    rows = []
    for row, label, opt, warm, status, bleu, seed in [
        ("adam", "Adam", "adam", True, "finished", 30.0, 0),
        ("adam", "Adam", "adam", True, "finished", 32.0, 1),
        ("adam", "Adam", "adam", False, "diverged", None, 0),
        ("relative_step", "relative step (Adafactor)", "adafactor", True, "finished", 29.0, 0),
        ("relative_step", "relative step (Adafactor)", "adafactor", False, "finished", 28.5, 0),
    ]:
        rows.append(
            {
                "table2.row": row,
                "table2.label": label,
                "table2.warmup": warm,
                "status": status,
                "final_metric": bleu,
                "seed": seed,
                "optimizer.name": opt,
                "optimizer.betas": [0.9, 0.999],
                "optimizer.beta1": None,
                "optimizer.beta2": None,
                "optimizer.decay_rate": -0.8,
                "optimizer.clip_threshold": 1.0,
                "optimizer.factored": True,
                "optimizer.relative_step": True,
                "state_bytes": 100 if opt == "adafactor" else 800,
                "final_bleu_signature": "nrefs:1|x",
                "task": "transformer_mt",
                "task.src": "de",
                "task.tgt": "en",
                "task.splits.test": "test_2016_flickr",
                "final_beam": 4,
            }
        )
    table, footnote = table2(pd.DataFrame(rows))
    assert list(table["setting"]) == ["Adam", "relative step (Adafactor)"]
    adam, rel = table.iloc[0], table.iloc[1]
    assert adam["BLEU (warmup)"] == "31.0 ± 1.4" and adam["BLEU (no warmup)"] == "diverged"
    assert adam["beta1"] == "0.9" and adam["second-moment decay"] == "beta2 = 0.999" and adam["factored"] == "no"
    assert rel["second-moment decay"] == "1 - t^(-0.8)" and rel["step size"] == "relative" and rel["clipping d"] == "1"
    assert rel["BLEU (no warmup)"] == "28.5" and rel["state bytes"] == 100
    assert "nrefs:1|x" in footnote and "not the paper's" in footnote


def test_table2_experiment_end_to_end_on_the_tiny_task(tmp_path, data_root):
    env = {**os.environ, "OPTBENCH_DATA": str(data_root), "WANDB_MODE": "disabled"}
    env.pop("OPTBENCH_STORE", None)
    sweep = subprocess.run(
        [
            sys.executable,
            "-m",
            "optbench",
            "-m",
            "experiment=adafactor_table2",
            "task=transformer_mt_tiny",
            "task.max_steps=3",
            "task.train_subset=300",
            "task.eval_subset=8",
            "logger=none",
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=900,
    )
    assert sweep.returncode == 0, sweep.stderr[-3000:]
    assert "24 runs in sweep" in sweep.stdout
    assert (tmp_path / "results/store/runs").is_dir()  # another task's runs: the user's store, not the study's
    assert not (tmp_path / "results/adafactor_table2/store").exists()
    report = subprocess.run(
        [sys.executable, "-m", "optbench.report", "report=table2", "store_dir=results/store"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=300,
    )
    assert report.returncode == 0, report.stderr
    out = tmp_path / "results/adafactor_table2"
    assert (out / "bleu_full.png").is_file()
    table = pd.read_csv(out / "table2_full.csv")
    assert len(table) == 12 and table["setting"].iloc[0] == "Adam"
    assert table["BLEU (warmup)"].notna().all() and table["BLEU (no warmup)"].notna().all()
    rel = table.set_index("setting").loc["relative step (Adafactor)"]
    adam = table.set_index("setting").loc["Adam"]
    assert rel["state bytes"] < adam["state bytes"] / 10  # factored second moment, no first moment
    text = (out / "table2_full.md").read_text()
    assert "sacreBLEU signature: nrefs:1|case:mixed" in text
    assert re.search(r"full budget \(beam 2, 3 steps, fp32, \d+ threads\)\*\*$", text.splitlines()[0])  # the records


def test_the_target_falls_back_to_the_task_and_tolerates_none():
    from optbench.errors import OptbenchError
    from optbench.report.tables import Target

    runs = pd.DataFrame({"task.target": [0.9], "metric_name": ["accuracy"], "higher_is_better": [True]})
    assert target_of(runs, 0.5) == Target("accuracy", 0.5, higher=True)
    assert target_of(runs, None) == Target("accuracy", 0.9, higher=True)
    # another metric the evaluations record, in its own direction (a loss: lower is better)
    assert target_of(runs, {"metric": "eval_loss", "value": 0.2}) == Target("eval_loss", 0.2, higher=False)
    assert target_of(runs, {"value": 0.95}) == Target("accuracy", 0.95, higher=True)
    with pytest.raises(OptbenchError, match="metric: NAME, value: X"):
        target_of(runs, {"metric": "eval_loss"})
    assert target_of(pd.DataFrame({"task.target": [np.nan]}), None) is None
    assert target_of(pd.DataFrame({"optimizer": ["adam"]}), None) is None


def test_tables_escape_markdown_and_compile_in_latex(tmp_path):
    import shutil

    from optbench.report.tables import write_table

    frame = pd.DataFrame(
        {"optimizer": ["a|b", "my_opt"], "final acc": ["0.9 ± 0.01 (n=2)", "50% & #1"], "lr": [1e-3, 0.1]}
    )
    caption = "toy_task: time to accuracy >= 0.97; {braces} ~ ^ $x$ 100%"
    paths = write_table(frame, tmp_path, "t", caption=caption, footnote="Hardware: cpu_x, 2 threads.")
    md = paths[0].read_text().splitlines()
    rows = [line for line in md if line.startswith("|")]
    pipes = [len(re.findall(r"(?<!\\)\|", line)) for line in rows]
    assert len(set(pipes)) == 1 and pipes[0] == 4  # '|' in a cell no longer splits the row
    assert "a\\|b" in paths[0].read_text()
    if shutil.which("pdflatex") is None:
        pytest.skip("no LaTeX installed (Debian: texlive-latex-base texlive-latex-recommended)")
    doc = tmp_path / "doc.tex"
    doc.write_text("\\documentclass{article}\\usepackage{booktabs}\\begin{document}\\input{t.tex}\\end{document}\n")
    out = subprocess.run(
        ["pdflatex", "-interaction=nonstopmode", "-halt-on-error", doc.name],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stdout[-3000:]
    assert (tmp_path / "doc.pdf").stat().st_size > 0


def test_summary_display_uses_human_units_and_no_repeated_column(store):
    from optbench.report.tables import summary_csv, summary_display

    runs, metrics = load_runs(str(store), task="toy")
    table = summary_table(runs, metrics, target_of(runs, 0.9))
    shown = summary_display(table).set_index("optimizer")
    assert "accuracy mean" not in shown and "accuracy std" not in shown
    assert shown.loc["adam", "examples/s"] == "1k" and shown.loc["adam", "optimizer state"] == "1000 B"
    csv = summary_csv(table)
    assert "final accuracy" not in csv and csv["accuracy mean"].dtype.kind == "f"
    assert len(set(shown.columns)) == len(shown.columns)


def test_human_units():
    from optbench.units import human_bytes, human_count

    assert human_bytes(10692912) == "10.2 MiB" and human_bytes(1536) == "1.5 KiB" and human_bytes(12) == "12 B"
    assert human_bytes(3 * 2**30) == "3 GiB" and human_bytes(None) == "-"
    assert human_count(15300) == "15.3k" and human_count(1.56e9) == "1.56B" and human_count(512) == "512"


def report_cli(tmp_path, *args, env=None):
    return subprocess.run(
        [sys.executable, "-m", "optbench.report", *args],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={**os.environ, **(env or {})},
        timeout=300,
    )


def test_plain_report_renders_one_comparison_per_task(store, tmp_path):
    fake_run(store, "adam", 1e-3, 0, 0.5, [2.0, 1.0], task="other")
    out = report_cli(tmp_path, f"store_dir={store}", f"out_root={tmp_path / 'results'}")
    assert out.returncode == 0, out.stderr[-2000:]
    for task in ("toy", "other"):
        assert (tmp_path / "results" / task / "summary.md").is_file()
        assert (tmp_path / "results" / task / "curves.png").is_file()


def test_report_from_wandb_without_a_login_is_one_paragraph(tmp_path):
    env = {"HOME": str(tmp_path), "WANDB_API_KEY": "", "WANDB_MODE": "online", "NETRC": str(tmp_path / "none")}
    out = report_cli(tmp_path, "source=wandb", env=env)
    assert out.returncode == 2 and "Traceback" not in out.stderr, out.stderr[-2000:]
    assert "optbench-report: error: could not read W&B project 'optbench'" in out.stderr
    assert "wandb login" in out.stderr and "source=store" in out.stderr


def test_report_help_lists_its_own_reports_not_the_run_app_groups(tmp_path):
    out = report_cli(tmp_path, "--help")
    assert out.returncode == 0
    assert "report=NAME" in out.stdout and "table2" in out.stdout and "trajectories" in out.stdout
    assert "optimizer: adafactor" not in out.stdout and "table2_row:" not in out.stdout


def test_a_report_name_cannot_leave_the_results_folder(store, tmp_path):
    out = report_cli(tmp_path, f"store_dir={store}", "name=../../escaped", f"out_root={tmp_path / 'results'}")
    assert out.returncode == 2 and "name='../../escaped' is not a valid name" in out.stderr
    assert not (tmp_path.parent / "escaped").exists()


def test_a_diverged_runs_bad_loss_does_not_flatten_the_curves():
    from optbench.report import figures

    base = {"metric_name": "accuracy", "task": "t", "device": "cpu", "threads": 2, "torch_version": "x", "lr": 0.1}
    runs = pd.DataFrame(
        [
            {**base, "optimizer": "sgd", "seed": 0, "status": "finished", "run_id": "a", "final_metric": 0.9},
            {**base, "optimizer": "sgd", "seed": 1, "status": "diverged", "run_id": "b", "final_metric": None},
        ]
    )
    rows = [{"run_id": "a", "split": "train", "step": s, "loss": 2.0 / s, "train_s": 0.1 * s} for s in range(1, 20)]
    rows += [
        {"run_id": "b", "split": "train", "step": 1, "loss": 2.3, "train_s": 0.1},
        {"run_id": "b", "split": "train", "step": 2, "loss": 1e32, "train_s": 0.2, "diverged": True},
        {"run_id": "a", "split": "eval", "step": 19, "accuracy": 0.9, "train_s": 2.0},
    ]
    fig = figures.curves(runs, pd.DataFrame(rows))
    assert fig.axes[0].get_ylim()[1] < 10


def test_best_lr_compares_lrs_on_the_seeds_they_all_ran():
    from optbench.report.tables import best_lr

    # the tuner picked 0.01 on seed 0 and reran it on seeds 1, 2; the one-seed grid point 0.03 must not win on a
    # mean over different seeds
    runs = pd.DataFrame(
        {
            "lr": [0.01, 0.01, 0.01, 0.03],
            "seed": [0, 1, 2, 0],
            "final_metric": [0.971, 0.960, 0.962, 0.9707],
            "status": ["finished"] * 4,
            "higher_is_better": [True] * 4,
        }
    )
    assert best_lr(runs) == 0.01
    assert best_lr(runs.assign(final_metric=[0.970, 0.99, 0.99, 0.9707])) == 0.03  # on seed 0, 0.03 is better


def test_runs_of_different_configurations_are_never_pooled_as_seeds(tmp_path):
    """adamw at wd 0 and 0.5 on two seeds each, and a 100-step run beside full-budget ones: four groups, each named
    by what sets it apart, each picking its own best lr."""
    root = tmp_path / "store"
    for seed in (0, 1):
        fake_run(root, "adamw", 1e-3, seed, 0.90 + seed * 0.01, [2.0, 1.0], weight_decay=0.0)
        fake_run(root, "adamw", 1e-3, seed, 0.60 + seed * 0.01, [2.0, 1.5], weight_decay=0.5)
        fake_run(root, "adamw", 1e-2, seed, 0.95, [2.0, 0.9], weight_decay=0.5, task_max_steps=100)
    fake_run(root, "momentum", 0.1, 0, 0.8, [2.0, 1.2], nesterov=True)
    fake_run(root, "momentum", 0.1, 0, 0.7, [2.0, 1.3], nesterov=False)
    fake_run(root, "sgd", 0.1, 0, 0.7, [2.0, 1.3])
    runs, metrics = load_runs(str(root), task="toy")
    table = summary_table(runs, metrics).set_index("optimizer")
    assert sorted(table.index) == [
        "adamw, wd=0, max_steps=unset",
        "adamw, wd=0.5, max_steps=100",
        "adamw, wd=0.5, max_steps=unset",
        "momentum, nesterov=false",
        "momentum, nesterov=true",
        "sgd",  # one configuration: its name alone
    ]
    assert table.loc["adamw, wd=0.5, max_steps=unset", "final accuracy"] == "0.605 ± 0.0071 (n=2)"
    assert table.loc["adamw, wd=0.5, max_steps=unset", "best lr"] == 1e-3  # not the 100-step runs' 1e-2
    assert table.loc["adamw, wd=0.5, max_steps=100", "best lr"] == 1e-2


def test_the_end_of_sweep_table_names_what_differs_between_configurations(tmp_path):
    from optbench.tracking.summary import summaries_from_markers, summary_frame, write_marker

    root = tmp_path / "store"
    markers = []
    for i, nesterov in enumerate((True, False)):
        fake_run(root, "momentum", 0.1, 0, 0.8, [2.0, 1.2], nesterov=nesterov)
        (tmp_path / str(i)).mkdir()
        write_marker(tmp_path / str(i), f"toy-momentum-0.1-0-nesterov{nesterov}", str(root))
        markers.append(tmp_path / str(i) / "optbench_run.json")
    frame = summary_frame(summaries_from_markers(markers))
    assert frame["optimizer"].tolist() == ["momentum, nesterov=true", "momentum, nesterov=false"]


def test_whiskers_of_a_quantity_that_cannot_be_negative_stop_at_zero():
    from optbench.report.figures import nonnegative_whiskers

    whiskers = nonnegative_whiskers([1.0, 10.0], [3.0, 2.0])
    assert whiskers.tolist() == [[1.0, 2.0], [3.0, 2.0]]  # 1 - 1 = 0, not 1 - 3 = -2


def test_the_memory_table_names_every_optimizer_it_left_out_and_why(monkeypatch):
    from optbench.report import memory_table as mt

    real = mt.build_optimizer

    def build(cfg, model):
        if cfg["name"] == "sgd":
            raise RuntimeError("no fake-tensor kernel for this step")
        return real(cfg, model)

    monkeypatch.setattr(mt, "build_optimizer", build)
    table = mt.memory_table(["mnist_mlp"], ["adam", "sgd"], ["fp32"])
    assert table["optimizer"].tolist() == ["adam"]
    note = mt.left_out_note(table, "mnist_mlp")
    assert note.startswith("Left out (their step could not be projected): sgd (at fp32: RuntimeError(")
    assert "no fake-tensor kernel" in note and mt.left_out_note(table, "gpt2_xl") == ""


def test_a_users_report_never_writes_into_a_committed_studys_folder(store, tmp_path):
    """results/toy holds a study (its own store/ and figures); a report over another store goes to
    results/reports/toy and leaves the study's files as they were."""
    study = tmp_path / "results" / "toy"
    fake_run(study / "store", "adam", 1e-3, 0, 0.9, [2.0, 1.0])
    (study / "pareto.png").write_bytes(b"committed figure")
    out = report_cli(tmp_path, f"store_dir={store}", f"out_root={tmp_path / 'results'}")
    assert out.returncode == 0, out.stderr
    assert (study / "pareto.png").read_bytes() == b"committed figure" and not (study / "summary.md").exists()
    assert (tmp_path / "results/reports/toy/summary.md").is_file()
    assert "is a study's folder" in out.stderr
    own = report_cli(tmp_path, f"store_dir={study / 'store'}", f"out_root={tmp_path / 'results'}")
    assert own.returncode == 0 and (study / "summary.md").is_file()  # the study's own report writes there


def test_name_names_the_folder_of_a_report_over_several_tasks(tmp_path):
    root = tmp_path / "store"
    fake_run(root, "adam", 1e-3, 0, 0.9, [2.0, 1.0], task="one")
    fake_run(root, "adam", 1e-3, 0, 0.9, [2.0, 1.0], task="two")
    out = report_cli(tmp_path, f"store_dir={root}", f"out_root={tmp_path / 'results'}", "name=mine")
    assert out.returncode == 0, out.stderr
    assert (tmp_path / "results/mine/one/summary.md").is_file() and (tmp_path / "results/mine/two/summary.md").is_file()


def test_the_table2_noise_figure_is_the_pooled_seed_sd_of_the_records():
    from optbench.report.table2 import noise_line

    runs = pd.DataFrame(
        {
            "status": ["finished"] * 6 + ["diverged"],  # a diverged run has no BLEU to count
            "metric_name": ["bleu"] * 7,
            "planned_steps": [450] * 7,
            "family": ["a", "a", "b", "b", "b", "c", "a"],
            "lr": [1e-3, 1e-3, 1e-3, 1e-3, 1e-3, 1e-3, 1e-3],
            "final_metric": [20.0, 22.0, 10.0, 11.0, 12.0, 30.0, 0.0],
        }
    )
    line = noise_line(runs)
    # a: (20, 22) squares 2, 1 dof; b: (10, 11, 12) squares 2, 2 dof; c: one seed, no part
    assert "test BLEU sd 1.15, pooled over 2 configurations with 2+ seeds (3 degrees of freedom; this table)" in line
    assert "differ by more than 5.2 BLEU (t 3.18 x sd x sqrt 2)" in line  # t(0.975, 3) = 3.182
    assert "none is measured" in noise_line(runs.assign(family=["a", "b", "c", "d", "e", "f", "g"]))
    assert "sd 1.41, pooled over 1 configurations" in noise_line(runs.assign(lr=[1e-3, 1e-3, 1, 2, 3, 4, 5]))


def test_one_place_picks_a_configuration_and_never_by_the_test_split():
    from optbench.report.tables import picked, selection_score

    lm = pd.DataFrame(
        {
            "lr": [1e-3, 1e-2],
            "seed": [0, 0],
            "status": ["finished", "finished"],
            "metric_name": ["loss", "loss"],
            "higher_is_better": [False, False],
            "final_metric": [4.0, 4.2],  # the test split's: 1e-3 looks better there
            "final_eval_loss": [4.5, 4.3],  # the validation's, which the pick reads
        }
    )
    assert selection_score(lm) == "final_eval_loss" and picked(lm) == 1e-2
    mt = lm.drop(columns="final_eval_loss").assign(  # a BLEU: higher is better, whatever its name's prefix
        metric_name="bleu", higher_is_better=True, tune_metric="final_eval_bleu", final_eval_bleu=[20.0, 25.0]
    )
    assert picked(mt) == 1e-2
    deepobs = lm.drop(columns="final_eval_loss")  # a task that evaluates only the test split, by protocol
    assert selection_score(deepobs) == "final_metric" and picked(deepobs) == 1e-3


def test_a_setting_that_names_itself_is_labelled_by_its_name_and_what_it_leaves_open():
    from optbench.tracking.naming import family_labels

    def row(name, clip, warmup):
        return {"table2.label": name, "optimizer.clip_threshold": clip, "table2.warmup": warmup,
                "schedule.warmup_steps": 150 if warmup else 0}  # fmt: skip

    families = [row("clipped d=1", 1.0, True), row("clipped d=1", 1.0, False), row("clipped d=2", 2.0, True)]
    assert family_labels(["adafactor"] * 3, families) == [
        "adafactor, clipped d=1, warmup=true",  # the row's name explains its clipping; the warmup steps follow warmup
        "adafactor, clipped d=1, warmup=false",
        "adafactor, clipped d=2, warmup=true",
    ]


def test_runs_of_different_tasks_are_never_compared_for_a_label():
    from optbench.tracking.naming import family_labels

    families = [{"task.name": "rosenbrock", "task.start": [-1, 1]}, {"task.name": "rastrigin", "task.start": [2, 2]}]
    assert family_labels(["adam", "adam"], families, ["rosenbrock", "rastrigin"]) == ["adam", "adam"]
    assert family_labels(["adam", "adam"], families)[0].startswith("adam, name=rosenbrock")  # one scope: they differ
