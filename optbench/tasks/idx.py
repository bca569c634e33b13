"""Read datasets stored in the IDX format (MNIST, Fashion-MNIST, KMNIST), gzipped or not, or from the hub."""

from __future__ import annotations

import gzip
import zlib
from pathlib import Path

import numpy as np

from optbench.errors import OptbenchError

# IDX type byte -> big-endian numpy dtype
_IDX_DTYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}

# (split, kind) -> file stem; the same names serve MNIST, Fashion-MNIST and KMNIST.
IDX_FILES = {
    ("train", "images"): "train-images-idx3-ubyte",
    ("train", "labels"): "train-labels-idx1-ubyte",
    ("test", "images"): "t10k-images-idx3-ubyte",
    ("test", "labels"): "t10k-labels-idx1-ubyte",
}


def read_idx(path: Path) -> np.ndarray:
    """Parse one IDX file; a short or malformed file raises OptbenchError naming the file and the sizes."""
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as fh:
            raw = fh.read()
    except (OSError, EOFError, zlib.error) as exc:
        raise OptbenchError(
            f"cannot read IDX file {path}: {exc}. Re-download it (it may be truncated or corrupt)."
        ) from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_DTYPES:
        raise OptbenchError(f"{path} is not an IDX file (bad magic number {raw[:4].hex()}).")
    ndim = raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise OptbenchError(f"{path} is truncated: its header needs {header} bytes, the file has {len(raw)}.")
    shape = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    dtype = np.dtype(_IDX_DTYPES[raw[2]])
    expected = header + int(np.prod(shape)) * dtype.itemsize
    if len(raw) != expected:
        raise OptbenchError(
            f"{path} is truncated or corrupt: its header declares shape {shape} ({expected} bytes), "
            f"but the file holds {len(raw)} bytes. Re-download it."
        )
    return np.frombuffer(raw, dtype=dtype, offset=header).reshape(shape).astype(dtype.newbyteorder("="))


def find_idx_file(directory: Path, stem: str) -> Path:
    for name in (stem + ".gz", stem, stem.replace("-idx", ".idx") + ".gz", stem.replace("-idx", ".idx")):
        if (directory / name).is_file():
            return directory / name
    raise OptbenchError(
        f"{directory} has no {stem}[.gz]. An IDX data folder needs the four files "
        f"{', '.join(s + '[.gz]' for s in IDX_FILES.values())} (MNIST, Fashion-MNIST and KMNIST use these names)."
    )


def load_idx_dir(directory: Path) -> dict[str, np.ndarray]:
    """{'train_x', 'train_y', 'test_x', 'test_y'} from a folder of IDX files; images as uint8 (N, H, W)."""
    if not directory.is_dir():
        raise OptbenchError(
            f"data folder {directory} does not exist. Point data_root (or the OPTBENCH_DATA environment variable) at "
            f"a folder holding mnist/, set task.data_dir to the IDX folder itself, or set data_root=null to download "
            f"from the Hugging Face hub."
        )
    out = {}
    for (split, kind), stem in IDX_FILES.items():
        out[f"{split}_{'x' if kind == 'images' else 'y'}"] = read_idx(find_idx_file(directory, stem))
    for split in ("train", "test"):
        if len(out[f"{split}_x"]) != len(out[f"{split}_y"]):
            raise OptbenchError(
                f"{directory}: {split} images ({len(out[f'{split}_x'])}) and labels ({len(out[f'{split}_y'])}) "
                f"differ in count."
            )
    return out


def hub_to_arrays(dataset_dict) -> dict[str, np.ndarray]:
    """Convert a `datasets` DatasetDict with 'image' (PIL) and 'label' columns into the load_idx_dir layout."""
    out = {}
    for split in ("train", "test"):
        ds = dataset_dict[split]
        out[f"{split}_x"] = np.stack([np.asarray(img, dtype=np.uint8) for img in ds["image"]])
        out[f"{split}_y"] = np.asarray(ds["label"], dtype=np.int64)
    return out


def load_hub(hub_id: str) -> dict[str, np.ndarray]:
    import datasets

    try:
        return hub_to_arrays(datasets.load_dataset(hub_id))
    except Exception as exc:  # noqa: BLE001 - network and hub errors come in many types
        raise OptbenchError(
            f"could not load '{hub_id}' from the Hugging Face hub ({type(exc).__name__}: {exc}). Without network "
            f"access, point data_root (or OPTBENCH_DATA) at a folder holding the IDX files."
        ) from None
