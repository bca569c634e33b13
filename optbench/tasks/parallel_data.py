"""Parallel text for translation tasks: raw ``{split}.{lang}[.gz]`` files from a folder, or a hub dataset.

Both sources give, per split, two aligned lists of untokenised sentences. Multi30k and WMT'14 use the same code; their
configs differ only in file and split names and in how a hub row holds the two sides.
"""

from __future__ import annotations

import gzip
import zlib
from pathlib import Path

from omegaconf import DictConfig

from optbench.errors import OptbenchError

SPLITS = ("train", "val", "test")


def _read_lines(path: Path) -> list[str]:
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rt", encoding="utf-8") as fh:
            return [line.rstrip("\n") for line in fh]
    except (OSError, EOFError, UnicodeDecodeError, zlib.error) as exc:
        raise OptbenchError(f"cannot read {path}: {exc}. Re-download it (it may be truncated or corrupt).") from None


def _find(directory: Path, stem: str) -> Path:
    for name in (f"{stem}.gz", stem):
        if (directory / name).is_file():
            return directory / name
    raise OptbenchError(
        f"{directory} has no {stem}[.gz]. A translation data folder needs, for each split, one file per language "
        f"named <split>.<lang>[.gz]; the task's splits are configured in task.splits."
    )


def read_local(directory: Path, split_files: dict[str, str], src: str, tgt: str) -> dict[str, tuple[list, list]]:
    if not directory.is_dir():
        raise OptbenchError(
            f"data folder {directory} does not exist. Point data_root (or OPTBENCH_DATA) at a folder holding it, set "
            f"task.data_dir to it, or set data_root=null to download from the Hugging Face hub."
        )
    out = {}
    for split in SPLITS:
        src_path, tgt_path = (
            _find(directory, f"{split_files[split]}.{src}"),
            _find(directory, f"{split_files[split]}.{tgt}"),
        )
        src_lines, tgt_lines = _read_lines(src_path), _read_lines(tgt_path)
        if len(src_lines) != len(tgt_lines):
            raise OptbenchError(
                f"{src_path.name} has {len(src_lines)} lines but {tgt_path.name} has {len(tgt_lines)}: the two sides "
                f"of split '{split}' must be aligned line by line."
            )
        if not any(line.strip() for line in src_lines):
            raise OptbenchError(f"split '{split}' is empty: {src_path} and {tgt_path} hold no sentences.")
        out[split] = (src_lines, tgt_lines)
    return out


def _side(row: dict, lang: str) -> str:
    return row["translation"][lang] if "translation" in row else row[lang]


def hub_rows_to_pairs(rows, src: str, tgt: str) -> tuple[list[str], list[str]]:
    """Rows of a hub split (flat {'de':..,'en':..} or nested {'translation': {...}}) as two aligned lists."""
    pairs = [(_side(r, src), _side(r, tgt)) for r in rows]
    return [s for s, _ in pairs], [t for _, t in pairs]


def read_hub(hub_id: str, hub_config: str | None, split_names: dict[str, str], src: str, tgt: str):
    import datasets

    try:
        dataset = datasets.load_dataset(hub_id, hub_config)
        return {split: hub_rows_to_pairs(dataset[split_names[split]], src, tgt) for split in SPLITS}
    except Exception as exc:  # noqa: BLE001 - network and hub errors come in many types
        raise OptbenchError(
            f"could not load '{hub_id}' from the Hugging Face hub ({type(exc).__name__}: {exc}). Without network "
            f"access, point data_root (or OPTBENCH_DATA) at a folder holding the raw <split>.<lang>.gz files."
        ) from None


def load_parallel(cfg: DictConfig, data_root: Path | None) -> dict[str, tuple[list[str], list[str]]]:
    """{'train'|'val'|'test': (source sentences, target sentences)} from task.data_dir, <data_root>/..., or the hub."""
    if cfg.src == cfg.tgt or {cfg.src, cfg.tgt} - set(cfg.languages):
        raise OptbenchError(
            f"task.src={cfg.src!r}, task.tgt={cfg.tgt!r}: choose two different languages among {list(cfg.languages)}."
        )
    if cfg.data_dir is not None:
        return read_local(Path(cfg.data_dir).expanduser(), cfg.splits, cfg.src, cfg.tgt)
    if data_root is not None:
        return read_local(data_root / cfg.data_subdir, cfg.splits, cfg.src, cfg.tgt)
    return read_hub(cfg.hub_id, cfg.hub_config, cfg.hub_splits, cfg.src, cfg.tgt)
