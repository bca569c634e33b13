"""Plain text for language modelling, split by whole works: a folder of ``.txt`` / ``.txt.gz`` files (one work or
document collection each), or a hub dataset with its own splits.

Validation and test hold out whole works named in the config, so no work is split across training and test.
Project Gutenberg's licence header and footer are stripped when a file has them.
"""

from __future__ import annotations

import gzip
import re
import zlib
from pathlib import Path

from omegaconf import DictConfig

from optbench.errors import OptbenchError

SPLITS = ("train", "val", "test")
START = re.compile(r"^\*\*\* ?START OF (THE|THIS) PROJECT GUTENBERG.*$", re.M | re.I)
END = re.compile(r"^(\*\*\* ?END OF (THE|THIS) PROJECT GUTENBERG|End of (the )?Project Gutenberg).*$", re.M | re.I)


def strip_gutenberg(text: str) -> str:
    """The work without Project Gutenberg's header (up to the START line) and footer (from the END line)."""
    start = START.search(text)
    if start:
        text = text[start.end() :]
    end = END.search(text)
    if end:
        text = text[: end.start()]
    return text.strip() + "\n"


def work_name(path: Path) -> str:
    """A file's work name: its name without .txt / .txt.gz (``hamlet_gut.txt.gz`` -> ``hamlet_gut``)."""
    name = path.name
    for suffix in (".txt.gz", ".txt"):
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


def read_works(directory: Path) -> dict[str, str]:
    """{work name: text} of every .txt / .txt.gz file in ``directory``, Gutenberg headers stripped."""
    if not directory.is_dir():
        raise OptbenchError(f"task.data_dir={str(directory)!r} is not a folder (a folder of .txt or .txt.gz files).")
    paths = sorted(p for p in directory.iterdir() if p.name.endswith((".txt", ".txt.gz")) and p.is_file())
    if not paths:
        raise OptbenchError(f"{directory} holds no .txt or .txt.gz files; a text corpus is one or more such files.")
    works = {}
    for path in paths:
        opener = gzip.open if path.name.endswith(".gz") else open
        try:
            with opener(path, "rt", encoding="utf-8") as fh:
                works[work_name(path)] = strip_gutenberg(fh.read())
        except (OSError, EOFError, UnicodeDecodeError, zlib.error) as exc:
            raise OptbenchError(
                f"cannot read {path}: {exc}. Re-download it (it may be truncated or corrupt)."
            ) from None
    return works


def split_works(works: dict[str, str], val: list[str], test: list[str]) -> dict[str, list[str]]:
    """{split: texts}: the named works for validation and test, every other work for training."""
    names = sorted(works)
    for key, chosen in (("val_works", val), ("test_works", test)):
        if not chosen:
            raise OptbenchError(f"task.{key} is empty; name at least one of the corpus's works: {', '.join(names)}.")
        unknown = [w for w in chosen if w not in works]
        if unknown:
            raise OptbenchError(
                f"task.{key} names {unknown}, which the corpus does not hold; its works are: {', '.join(names)}."
            )
    both = sorted(set(val) & set(test))
    if both:
        raise OptbenchError(f"{both} are in both task.val_works and task.test_works; a work belongs to one split.")
    held_out = set(val) | set(test)
    train = [works[w] for w in names if w not in held_out]
    if not train:
        raise OptbenchError("every work of the corpus is held out; leave at least one for training.")
    return {"train": train, "val": [works[w] for w in val], "test": [works[w] for w in test]}


def load_hub(cfg: DictConfig) -> dict[str, list[str]]:
    """The hub dataset's own splits (e.g. karpathy/tiny_shakespeare: one text per split)."""
    try:
        from datasets import load_dataset

        ds = load_dataset(cfg.hub.path, trust_remote_code=False)
    except Exception as exc:  # noqa: BLE001 - offline, unknown name, ...: one paragraph, not a traceback
        raise OptbenchError(
            f"could not load {cfg.hub.path!r} from the Hugging Face hub ({type(exc).__name__}: {exc}); set "
            f"data_root (a folder with shakespeare/) or task.data_dir (a folder of .txt files)."
        ) from None
    return {split: list(ds[cfg.hub.splits[split]][cfg.hub.text_field]) for split in SPLITS}


def load_corpus(cfg: DictConfig, data_root: Path | None) -> dict[str, list[str]]:
    """{split: texts} from task.data_dir, else <data_root>/<task.data_subdir>, else the hub."""
    if cfg.get("data_dir"):
        directory = Path(cfg.data_dir).expanduser()
    elif data_root is not None:
        directory = data_root / cfg.data_subdir
    else:
        return load_hub(cfg)
    return split_works(read_works(directory), list(cfg.val_works), list(cfg.test_works))
