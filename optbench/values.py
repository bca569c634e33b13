"""Type checks for config values. YAML reads ``true`` as a boolean, which Python would also take as the number 1,
so no numeric setting accepts a boolean."""

from __future__ import annotations

import math
from typing import Any, TypeGuard


def is_int(value: Any) -> TypeGuard[int]:
    """An int, and not a bool."""
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value: Any) -> TypeGuard[float]:
    """A finite int or float, and not a bool."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def plain_dict(cfg: Any, resolve: bool = True) -> dict[str, Any]:
    """A config node as a plain ``dict``, interpolations resolved unless ``resolve`` is false (OmegaConf's
    ``to_container`` is typed for any node)."""
    from omegaconf import OmegaConf

    out = OmegaConf.to_container(cfg, resolve=resolve)
    if not isinstance(out, dict):
        raise TypeError(f"expected a mapping, got {type(out).__name__}")
    return {str(k): v for k, v in out.items()}
