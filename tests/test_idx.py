from __future__ import annotations

import gzip
import struct

import numpy as np
import pytest

from optbench.errors import OptbenchError
from optbench.tasks.idx import IDX_FILES, hub_to_arrays, load_idx_dir, read_idx


def write_idx(path, array: np.ndarray, compress: bool) -> None:
    header = struct.pack(">BBBB", 0, 0, 0x08, array.ndim) + b"".join(struct.pack(">I", d) for d in array.shape)
    data = header + array.astype(np.uint8).tobytes()
    (gzip.open if compress else open)(path, "wb").write(data)


def make_idx_dir(folder, n_train=20, n_test=8, compress=True, seed=0):
    rng = np.random.default_rng(seed)
    arrays = {
        ("train", "images"): rng.integers(0, 256, (n_train, 6, 5)),
        ("train", "labels"): rng.integers(0, 10, n_train),
        ("test", "images"): rng.integers(0, 256, (n_test, 6, 5)),
        ("test", "labels"): rng.integers(0, 10, n_test),
    }
    folder.mkdir(parents=True, exist_ok=True)
    for key, stem in IDX_FILES.items():
        write_idx(folder / (stem + (".gz" if compress else "")), arrays[key], compress)
    return arrays


@pytest.mark.parametrize("compress", [True, False])
def test_reads_idx_folder_gz_or_raw(tmp_path, compress):
    arrays = make_idx_dir(tmp_path / "fashion", compress=compress)
    out = load_idx_dir(tmp_path / "fashion")
    np.testing.assert_array_equal(out["train_x"], arrays[("train", "images")])
    np.testing.assert_array_equal(out["test_y"], arrays[("test", "labels")])
    assert out["train_x"].shape == (20, 6, 5)


def test_truncated_file_is_a_clear_error(tmp_path):
    make_idx_dir(tmp_path, compress=False)
    path = tmp_path / "train-images-idx3-ubyte"
    path.write_bytes(path.read_bytes()[:-7])
    with pytest.raises(OptbenchError, match=r"train-images-idx3-ubyte is truncated.*\(20, 6, 5\)"):
        read_idx(path)


def test_truncated_gzip_stream_is_a_clear_error(tmp_path):
    make_idx_dir(tmp_path, compress=True)
    path = tmp_path / "train-images-idx3-ubyte.gz"
    path.write_bytes(path.read_bytes()[:30])
    with pytest.raises(OptbenchError, match="train-images-idx3-ubyte.gz"):
        load_idx_dir(tmp_path)


def test_missing_folder_and_missing_file(tmp_path):
    with pytest.raises(OptbenchError, match="does not exist.*OPTBENCH_DATA"):
        load_idx_dir(tmp_path / "nope")
    make_idx_dir(tmp_path)
    (tmp_path / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(OptbenchError, match="no t10k-labels-idx1-ubyte"):
        load_idx_dir(tmp_path)


def test_bad_magic(tmp_path):
    (tmp_path / "x").write_bytes(b"\x12\x34\x08\x01" + b"\x00" * 8)
    with pytest.raises(OptbenchError, match="not an IDX file"):
        read_idx(tmp_path / "x")


def test_hub_layout_converts_like_idx():
    datasets = pytest.importorskip("datasets")
    from PIL import Image

    rng = np.random.default_rng(1)
    imgs = [rng.integers(0, 256, (28, 28), dtype=np.uint8) for _ in range(3)]
    ds = datasets.DatasetDict(
        {
            split: datasets.Dataset.from_dict(
                {"image": [Image.fromarray(i) for i in imgs], "label": [3, 1, 4]},
                features=datasets.Features({"image": datasets.Image(), "label": datasets.Value("int64")}),
            )
            for split in ("train", "test")
        }
    )
    out = hub_to_arrays(ds)
    np.testing.assert_array_equal(out["train_x"], np.stack(imgs))
    np.testing.assert_array_equal(out["test_y"], [3, 1, 4])


def test_real_mnist_has_the_published_label_counts(data_root):
    out = load_idx_dir(data_root / "mnist")
    assert out["train_x"].shape == (60000, 28, 28) and out["test_x"].shape == (10000, 28, 28)
    counts = np.bincount(out["train_y"], minlength=10).tolist()
    assert counts == [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]


def test_a_validation_split_holds_out_the_last_training_examples(make_config, idx_dir):
    """task.val_size: evaluations read the held-out examples; the end reports the test accuracy and the validation
    loss a tuner picks by, and the test split is never trained or tuned on."""
    import torch

    from optbench.tasks import build_task

    cfg = make_config(f"task.data_dir={idx_dir}", "task.val_size=0.25")
    task = build_task(cfg.task, None, torch.device("cpu"), 0)
    task.load()
    assert len(task.train_y) == 192 and len(task.val_y) == 64 and len(task.test_y) == 64
    whole = load_idx_dir(idx_dir)
    np.testing.assert_array_equal(task.val_y.numpy(), whole["train_y"][192:])
    model = task.build_model()
    during, final = task.evaluate(model), task.evaluate(model, final=True)
    assert during.keys() == {"eval_loss", "accuracy"}
    assert final["eval_loss"] == during["eval_loss"] and final["eval_accuracy"] == during["accuracy"]
    assert (final["test_loss"], final["accuracy"]) == task.scores(model, task.test_x, task.test_y)
    assert final["test_loss"] != final["eval_loss"]
    # no validation split: the test split throughout (DeepOBS)
    plain = build_task(make_config(f"task.data_dir={idx_dir}").task, None, torch.device("cpu"), 0)
    plain.load()
    assert len(plain.train_y) == 256 and plain.evaluate(model) == dict(
        zip(("eval_loss", "accuracy"), plain.scores(model, plain.test_x, plain.test_y), strict=True)
    )
