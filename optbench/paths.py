"""Where the Hydra config tree lives: inside the package when installed as a wheel, beside it in a checkout."""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def config_dir() -> Path:
    """The conf/ folder: ``optbench/conf`` in a wheel, ``<repo>/conf`` in a source or editable install."""
    for candidate in (_PACKAGE / "conf", _PACKAGE.parent / "conf"):
        if (candidate / "config.yaml").is_file():
            return candidate
    raise FileNotFoundError(f"optbench's conf/ folder was not found next to {_PACKAGE}; reinstall optbench.")
