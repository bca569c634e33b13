"""Type checks for config values. YAML reads ``true`` as a boolean, which Python would also take as the number 1,
so no numeric setting accepts a boolean."""

from __future__ import annotations

import math
from typing import Any


def is_int(value: Any) -> bool:
    """An int, and not a bool."""
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value: Any) -> bool:
    """A finite int or float, and not a bool."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
