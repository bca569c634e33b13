from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from optbench.tracking.store import RunStore, earlier_run_ids, load_metrics, load_summaries, run_id

CONFIG = {
    "task": {"name": "t"},
    "optimizer": {"name": "adam", "lr": 1e-3},
    "seed": 0,
    "store_dir": "/a",
    "logger": {"dir": "/x"},
    "data_root": "/d",
    "force": False,
    "sweep": None,
    "tags": [],
}


def test_run_id_ignores_output_paths_but_not_hyperparameters():
    rid = run_id(CONFIG)
    assert rid.startswith("t-adam-")
    assert (
        run_id(
            {
                **CONFIG,
                "store_dir": "/b",
                "logger": {"dir": "/y"},
                "data_root": None,
                "force": True,
                "sweep": "s",
                "tags": ["x"],
            }
        )
        == rid
    )
    assert run_id({**CONFIG, "seed": 1}) != rid
    assert run_id({**CONFIG, "optimizer": {"name": "adam", "lr": 2e-3}}) != rid


def test_commit_is_complete_and_replaces(tmp_path):
    store = RunStore(tmp_path)
    rows = [{"step": 1, "split": "train", "loss": 2.0}, {"step": 2, "split": "eval", "accuracy": 0.5}]
    path = store.commit("r1", CONFIG, rows, {"status": "failed", "reason": "x"})
    assert sorted(p.name for p in path.iterdir()) == ["config.json", "metrics.parquet", "summary.json"]
    assert not store.is_complete("r1")  # failed runs are retried
    store.commit("r1", CONFIG, rows, {"status": "finished"})
    assert store.is_complete("r1")
    assert json.loads((path / "summary.json").read_text()) == {"status": "finished"}
    assert list((tmp_path / ".tmp").iterdir()) == []  # no leftovers
    metrics = load_metrics(tmp_path)
    assert list(metrics["run_id"].unique()) == ["r1"] and len(metrics) == 2
    summaries = load_summaries(tmp_path)
    assert summaries.loc[0, "optimizer.lr"] == 1e-3 and summaries.loc[0, "status"] == "finished"
    assert isinstance(summaries, pd.DataFrame)


def test_save_model_keeps_weights_loadable_with_weights_only(tmp_path, make_config):
    import torch

    from optbench.runner import run

    from .test_idx import make_idx_dir

    make_idx_dir(tmp_path / "idx", n_train=64, n_test=16)
    cfg = make_config(f"task.data_dir={tmp_path / 'idx'}", "task.hidden=[8]", "task.batch_size=16", "save_model=true")
    summary = run(cfg)
    state = torch.load(f"{summary['record_dir']}/model.pt", weights_only=True)
    assert state["1.weight"].shape == (8, 30)  # 6 x 5 images -> 8 hidden units
    assert run_id({**cfg_dict(cfg), "save_model": False}) == summary["run_id"]


def cfg_dict(cfg):
    from omegaconf import OmegaConf

    from optbench.tracking.store import portable_config

    return portable_config(OmegaConf.to_container(cfg, resolve=True))


def test_a_run_id_cannot_leave_the_store(tmp_path):
    import pytest

    from optbench.errors import OptbenchError

    store = RunStore(tmp_path)
    for bad in ("../x", "a/../../b", ".hidden", "a/b"):
        with pytest.raises(OptbenchError, match="would leave the store"):
            store.run_dir(bad)
    assert store.run_dir("t-adam-0123").parent == tmp_path / "runs"


def test_records_hold_no_host_name_or_absolute_path(tmp_path, make_config, monkeypatch):
    """A record can be committed as it is: folders relative to the launch directory, no host name."""
    import socket

    from optbench.runner import run

    from .test_idx import make_idx_dir

    make_idx_dir(tmp_path / "idx", n_train=64, n_test=16)
    monkeypatch.chdir(tmp_path)
    cfg = make_config(f"task.data_dir={tmp_path / 'idx'}", "task.hidden=[8]", "task.batch_size=16", "logger=wandb")
    summary = run(cfg)
    record = tmp_path / "store" / "runs" / summary["run_id"]
    text = (record / "config.json").read_text() + (record / "summary.json").read_text()
    assert str(tmp_path) not in text and socket.gethostname() not in text and "hostname" not in text
    config = json.loads((record / "config.json").read_text())
    assert config["store_dir"] == "store" and config["task"]["data_dir"] == "idx"
    assert config["logger"]["dir"] == "outputs"
    stored = json.loads((record / "summary.json").read_text())
    assert stored["wandb_dir"].startswith("outputs") and "record_dir" not in stored
    # the folders come back where they are read: the summary a run returns, and the store's reader
    assert summary["record_dir"] == str(record) == RunStore(tmp_path / "store").summary(summary["run_id"])["record_dir"]
    assert (tmp_path / stored["wandb_dir"]).is_dir()


def test_portable_config_makes_location_keys_relative(tmp_path, monkeypatch):
    from optbench.tracking.store import portable_config

    monkeypatch.chdir(tmp_path)
    out = portable_config({**CONFIG, "store_dir": str(tmp_path / "s"), "data_root": None, "logger": {"dir": "o"}})
    assert out["store_dir"] == "s" and out["data_root"] is None and out["logger"]["dir"] == "o"
    assert out["optimizer"] == CONFIG["optimizer"]  # nothing else changes


def test_run_id_leaves_out_the_lrs_table_and_an_absent_validation_split():
    with_table = {**CONFIG, "task": {"name": "t", "lrs": {"adam": 1e-3, "sgd": 0.1}, "val_size": 0, "tune_metric": "x"}}
    assert run_id(with_table) == run_id(CONFIG)
    assert run_id({**CONFIG, "task": {"name": "t", "lrs": {"adam": 3e-3}}}) == run_id(CONFIG)
    assert run_id({**CONFIG, "task": {"name": "t", "val_size": 5000}}) != run_id(CONFIG)
    # records stored while the table was part of the identity are still found
    assert earlier_run_ids(with_table) == [run_id(with_table, keep_lrs=True)] != [run_id(CONFIG)]
    assert earlier_run_ids(CONFIG) == []


def test_every_committed_record_is_found_under_its_config(tmp_path):
    """A reader who reruns a committed sweep into its store gets 'already in the store', not a retrain."""
    runs = sorted(Path(__file__).parents[1].glob("results/*/store/runs/*/config.json"))
    assert len(runs) > 100
    for path in runs:
        config = json.loads(path.read_text())
        assert path.parent.name in [run_id(config), *earlier_run_ids(config)], path


def test_a_folder_far_from_the_launch_directory_is_recorded_without_the_layout_above_it(tmp_path):
    from optbench.tracking.store import portable_path

    launch = tmp_path / "home" / "me" / "optbench"
    assert portable_path(launch / "results" / "store", launch) == "results/store"
    assert portable_path(tmp_path / "home" / "me" / "shared" / "data", launch) is None  # outside: not recorded
    assert portable_path(tmp_path / "mnt" / "datasets" / "mnist", launch) is None
    assert portable_path(launch, launch) == "."
