"""Bad input, across every config group: one paragraph naming the bad value, raised before any training, nothing
written to the store. The table runs in-process through ``runner.run`` (what the CLI calls); a sample goes
through the real command to check the exit code, the single paragraph and the absent traceback."""

from __future__ import annotations

import gzip
import re

import numpy as np
import pytest
import torch

from optbench import runner
from optbench.errors import OptbenchError

from .conftest import compose_config
from .test_cli import FAST, optbench, store_snapshot
from .test_idx import IDX_FILES, make_idx_dir, write_idx
from .test_mt import synthetic_pairs, write_corpus

LONG_TAG = "x" * 70

# (overrides, a regex the message must match). "{idx}" and "{mt}" are the data folders made below; "{file}" a file.
BAD = [
    # optimizer/
    (["optimizer.lr=inf"], r"optimizer.lr=inf .*finite number > 0"),
    (["optimizer.lr=nan"], r"optimizer.lr=nan .*finite number > 0"),
    (["optimizer.lr=true"], r"optimizer.lr=True .*finite number > 0"),
    (["optimizer.lr=abc"], r"optimizer.lr='abc' .*finite number > 0"),
    (["optimizer.lr=0"], r"optimizer.lr=0 .*finite number > 0"),
    (["optimizer.lr=-1e-3", "optimizer=adax"], r"optimizer.lr=-0.001 is not valid for optimizer 'adax'"),
    (["optimizer.weight_decay=inf"], r"optimizer.weight_decay=inf .*finite number >= 0"),
    (["optimizer.weight_decay=-0.1", "optimizer=adamw"], r"optimizer.weight_decay=-0.1 .*>= 0"),
    (["optimizer.betas=[0.9,1.0]"], r"optimizer.betas=\[0.9, 1.0\] .*each in \[0, 1\)"),
    (["optimizer.betas=[0.9]"], r"optimizer.betas=\[0.9\] .*two numbers"),
    (["optimizer.betas=[true,0.9]"], r"optimizer.betas=\[True, 0.9\]"),
    (["optimizer.eps=0"], r"optimizer.eps=0 .*> 0"),
    (["optimizer.eps=-1e-8", "optimizer=rmsprop"], r"optimizer.eps=-1e-08 .*> 0"),
    (["optimizer=adafactor", "optimizer.eps=[0,1e-3]"], r"optimizer.eps=\[0, 0.001\] .*eps1 > 0"),
    (["optimizer=momentum", "optimizer.momentum=1.0"], r"optimizer.momentum=1.0 .*\[0, 1\)"),
    (["optimizer=rmsprop", "optimizer.alpha=true"], r"optimizer.alpha=True"),
    (["optimizer.fused=maybe"], r"optimizer.fused='maybe' .*auto, true, false or null"),
    (["optimizer=adafactor", "optimizer.beta1=1.5"], r"optimizer.beta1=1.5 .*\[0, 1\) or null"),
    (["optimizer._target_=torch.optim.Nope"], r"optimizer._target_='torch.optim.Nope' cannot be imported"),
    (["optimizer._target_=collections.OrderedDict"], r"not a torch.optim.Optimizer subclass"),
    (["optimizer.name=a/../../../X"], r"optimizer.name='a/../../../X' is not a valid name"),
    (["optimizer.name=.hidden"], r"optimizer.name='.hidden' is not a valid name"),
    (["+optimizer.bogus=1"], r"optimizer 'adam' \(torch.optim.Adam\) rejected its configuration"),
    # top-level run keys
    (
        ["tune_metric=no_such_key"],
        r"tune_metric='no_such_key' is not a score that runs of task mnist_mlp record.*"
        r"choose one of: final_metric, final_train_loss, final_eval_loss, final_accuracy",
    ),
    (["seed=true"], r"seed=True must be a non-negative integer"),
    (["seed=-1"], r"seed=-1 must be a non-negative integer"),
    (["seed=1.5"], r"seed=1.5 must be a non-negative integer"),
    (["threads=0"], r"threads=0 must be a positive integer"),
    (["threads=true"], r"threads=True must be a positive integer"),
    (["device=tpu"], r"device='tpu' is not a device"),
    (["device=cuda:7"], r"device='cuda:7'"),
    (["force=maybe"], r"force='maybe' must be true or false"),
    (["precision=fp16"], r"precision='fp16' is not a training precision; choose one of fp32, bf16-mixed, bf16"),
    (["tags=abc"], r"tags='abc' must be a list of short strings"),
    ([f"tags=[ok,{LONG_TAG}]"], r"tags: 'x{70}' is not a valid tag.*at most 64"),
    (["tags=[1]"], r"tags: 1 is not a valid tag"),
    (["sweep=a/b"], r"sweep='a/b' is not a valid name"),
    # debug/
    (["debug=profile", "debug.profile.active=0"], r"debug.profile.active=0 must be a whole number of steps >= 1"),
    (["debug=anomaly", "debug.deterministic=maybe"], r"debug.deterministic='maybe' must be true or false"),
    (["debug=fast", "+debug.bogus=1"], r"debug.bogus is not a debug switch; the switches are name, detect_anomaly"),
    # task=lm_*
    (["task=lm_tiny", "task.context=1"], r"task.context=1 must be an integer >= 2"),
    (["task=lm_tiny", "task.model.heads=3"], r"task.model.d_model=32 must split into task.model.heads=3 heads"),
    (["task=lm_tiny", "task.eval_tokens=8"], r"task.eval_tokens=8 must be an integer > task.context"),
    # task/
    (["task.batch_size=0"], r"task.batch_size=0 must be a positive integer"),
    (["task.batch_size=abc"], r"task.batch_size='abc' must be a positive integer"),
    (["task.batch_size=100000"], r"would train 0 steps.*task.batch_size=100000, 256 training examples"),
    (["task.epochs=0"], r"task.epochs=0 must be a positive integer"),
    (["task.max_steps=0"], r"task.max_steps=0 must be a positive integer or null"),
    (["task.log_every=0"], r"task.log_every=0 must be a positive integer"),
    (["task.log_every=-5"], r"task.log_every=-5 must be a positive integer"),
    (["task.eval_every=0"], r"task.eval_every=0 must be a positive integer or null"),
    (["task.max_loss_factor=0.5"], r"task.max_loss_factor=0.5 must be a number > 1"),
    (["task.target=abc"], r"task.target='abc' must be a number"),
    (["task.higher_is_better=maybe"], r"task.higher_is_better='maybe' must be true or false"),
    (["task.name=../evil"], r"task.name='../evil' is not a valid name"),
    (["task._target_=nope.Nope"], r"task._target_='nope.Nope' cannot be imported"),
    (["task._target_=collections.OrderedDict"], r"is not a subclass of optbench.tasks.Task"),
    (["task=rosenbrock", "task.start=[1.0]"], r"task.start=\[1.0\] must be two finite numbers"),
    (["task=rosenbrock", "task.start=[a,b]"], r"task.start=\['a', 'b'\] must be two finite numbers"),
    (["task=rosenbrock", "task.function=nope"], r"task.function='nope': choose one of"),
    (["task=rosenbrock", "+task.params.c=1"], r"task.params=.* does not fit rosenbrock"),
    # schedule/
    (["schedule.min_ratio=-0.5"], r"schedule.min_ratio=-0.5 must be a number in \[0, 1\]"),
    (["schedule.min_ratio=2"], r"schedule.min_ratio=2 must be a number in \[0, 1\]"),
    (["schedule.warmup_steps=abc"], r"schedule.warmup_steps='abc' must be a non-negative integer"),
    (["schedule.warmup_steps=-1"], r"schedule.warmup_steps=-1 must be a non-negative integer"),
    (["schedule=warmup_rsqrt", "schedule.decay_start=0"], r"schedule.decay_start=0 must be a positive integer"),
    # data
    (["task.data_dir=/nonexistent/mnist"], r"/nonexistent/mnist does not exist"),
    (["CORRUPT_GZ"], r"cannot read IDX file .*train-images-idx3-ubyte.gz.*corrupt"),
    (["TRUNCATE"], r"train-images-idx3-ubyte.gz is truncated or corrupt"),
    (["LABEL_99"], r"the test labels hold 99, outside the class range 0..9"),
    (["EMPTY_TRAIN"], r"the train split of the IDX data is empty"),
    (["task.val_size=256"], r"task.val_size=256 holds out 256 of the 256 training examples.*0 to 255"),
    (["task=transformer_mt_tiny", "task.data_dir={mt}", "MT_CORRUPT_GZ"], r"cannot read .*train.de.gz.*corrupt"),
    (["task=transformer_mt_tiny", "task.data_dir={mt}", "MT_EMPTY_TRAIN"], r"split 'train' is empty"),
    (["task=transformer_mt_tiny", "task.data_dir={mt}", "task.src=xx"], r"task.src='xx'.*choose two"),
    (["task=transformer_mt_tiny", "task.model.attention=fast"], r"task.model.attention='fast'.*auto.*math, flash"),
    (["task=transformer_mt_tiny", "task.eval.val_beam=-1"], r"task.eval.val_beam=-1 .*integer >= 0.*loss only"),
    (["task=transformer_mt_tiny", "task.eval.beam=0"], r"task.eval.beam=0 .*integer >= 1.*beam search"),
    # data-parallel runs
    (["distributed=ddp"], r"distributed=ddp runs under torchrun, which sets RANK.*nproc_per_node"),
    # the store
    (["store_dir={file}"], r"results store .* cannot be written \(a file is in the way"),
]


def corrupt_gzip(path) -> None:
    """Flip bytes inside the deflate stream (the header stays valid, so gzip opens it and zlib fails)."""
    data = bytearray(path.read_bytes())
    for i in range(20, min(len(data) - 12, 60)):
        data[i] ^= 0xFF
    path.write_bytes(bytes(data))


def prepare(args: list[str], tmp_path) -> list[str]:
    """The data folders the row needs, with the row's fault applied; returns the overrides to run."""
    idx = tmp_path / "idx"
    make_idx_dir(idx, n_train=256, n_test=64)
    mt = tmp_path / "mt"
    pairs = synthetic_pairs(40)
    write_corpus(mt, {"train": pairs, "val": synthetic_pairs(8, 1), "test": synthetic_pairs(8, 2)})
    (tmp_path / "a_file").write_text("not a folder\n")
    other_task = any(a.startswith("task=") for a in args)
    out = [] if other_task else [f"task.data_dir={idx}", *FAST]
    for arg in args:
        if arg == "CORRUPT_GZ":
            corrupt_gzip(idx / "train-images-idx3-ubyte.gz")
        elif arg == "TRUNCATE":
            path = idx / "train-images-idx3-ubyte.gz"
            raw = gzip.decompress(path.read_bytes())
            path.write_bytes(gzip.compress(raw[:-100]))
        elif arg == "LABEL_99":
            labels = np.random.default_rng(0).integers(0, 10, 64)
            labels[5] = 99
            write_idx(idx / (IDX_FILES[("test", "labels")] + ".gz"), labels, True)
        elif arg == "EMPTY_TRAIN":
            write_idx(idx / (IDX_FILES[("train", "images")] + ".gz"), np.zeros((0, 6, 5)), True)
            write_idx(idx / (IDX_FILES[("train", "labels")] + ".gz"), np.zeros(0), True)
        elif arg == "MT_CORRUPT_GZ":
            corrupt_gzip(mt / "train.de.gz")
        elif arg == "MT_EMPTY_TRAIN":
            for lang in ("de", "en"):
                (mt / f"train.{lang}.gz").write_bytes(gzip.compress(b""))
        else:
            out.append(arg.format(idx=idx, mt=mt, file=tmp_path / "a_file"))
    return out


def test_the_table_has_at_least_forty_rows():
    assert len(BAD) >= 40


@pytest.mark.parametrize(("args", "message"), BAD, ids=[" ".join(a) for a, _ in BAD])
def test_bad_input_is_one_paragraph_before_training_and_writes_nothing(tmp_path, monkeypatch, args, message):
    if args == ["device=cuda:7"] and torch.cuda.device_count() > 7:
        pytest.skip("this machine has a cuda:7")
    overrides = prepare(args, tmp_path)
    cfg = compose_config(overrides, tmp_path)
    trained = []
    monkeypatch.setattr(runner, "train", lambda *a, **k: trained.append(1))
    with pytest.raises(OptbenchError) as info:
        runner.run(cfg)
    text = str(info.value)
    assert re.search(message, text), text
    assert "\n" not in text.strip() and not trained
    store = tmp_path / "store"
    assert not (store / "runs").exists() or not any((store / "runs").iterdir())
    assert not (store / ".tmp").exists() or not any((store / ".tmp").iterdir())


SAMPLE = ["optimizer.lr=true", "seed=true", "optimizer.name=a/../../../X", "task.batch_size=100000", "CORRUPT_GZ"]


@pytest.mark.parametrize("arg", SAMPLE)
def test_the_command_exits_non_zero_without_a_traceback_and_keeps_the_store(tmp_path, idx_dir, arg):
    ok = optbench(tmp_path, f"task.data_dir={idx_dir}", "logger=none", *FAST)
    assert ok.returncode == 0, ok.stderr
    before = store_snapshot(tmp_path / "results/store")
    if arg == "CORRUPT_GZ":
        corrupt_gzip(idx_dir / "train-images-idx3-ubyte.gz")
        arg = "seed=3"
    bad = optbench(tmp_path, f"task.data_dir={idx_dir}", "logger=none", *FAST, arg)
    assert bad.returncode == 2, bad.stderr
    errors = [line for line in bad.stderr.splitlines() if line.startswith("optbench: error:")]
    assert len(errors) == 1 and "Traceback" not in bad.stderr
    assert store_snapshot(tmp_path / "results/store") == before
    assert not list((tmp_path / "results/store").rglob("*X*"))  # nothing written outside runs/ either


def test_locate_names_what_is_missing():
    from optbench.imports import locate
    from optbench.tasks.mnist_mlp import MnistMLP

    assert locate("optbench.tasks.mnist_mlp.MnistMLP") is MnistMLP
    for path, reason in [
        ("nope.Nope", "no module named 'nope'"),
        ("optbench.tasks.Nope", "optbench.tasks has no attribute 'Nope'"),
        ("optbench.tasks.mnist_mlp.MnistMLP.x", "optbench.tasks.mnist_mlp.MnistMLP has no attribute 'x'"),
        ("a..b", "not a dotted path"),
    ]:
        with pytest.raises(ImportError, match=re.escape(reason)):
            locate(path)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-m", "experiment=tune", "hydra.sweeper.extend_edges=-1"], "hydra.sweeper.extend_edges=-1 must be a whole"),
        (["-m", "experiment=tune", "hydra.sweeper.direction=up"], "hydra.sweeper.direction='up': choose maximize"),
        (
            ["-m", "experiment=tune", "hydra.sweeper.coordinates={optimizer.eps: 3}"],
            "hydra.sweeper.coordinates.optimizer.eps=3 must be a non-empty list of values",
        ),
    ],
)
def test_bad_sweeper_settings_are_one_paragraph_and_run_nothing(tmp_path, args, message):
    out = optbench(tmp_path, *args, "task=rosenbrock", "logger=none")
    assert out.returncode == 2 and "Traceback" not in out.stderr and "Error in call" not in out.stderr, out.stderr
    (line,) = out.stderr.strip().splitlines()
    assert line.startswith("optbench: error: ") and message in line
    assert not (tmp_path / "results").exists()
