"""Numbers in human units for tables and figures: bytes as KiB/MiB/GiB, counts and rates as 15k / 1.5M / 11B."""

from __future__ import annotations

import math


def _missing(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def human_bytes(n) -> str:
    """1536 -> '1.5 KiB'; binary units, three significant digits; '-' for a missing value."""
    if _missing(n):
        return "-"
    n = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.0f} B" if unit == "B" else f"{n:.3g} {unit}"
        n /= 1024
    return f"{n:.3g} TiB"


def human_count(x) -> str:
    """15300 -> '15.3k', 1.56e9 -> '1.56B'; plain below a thousand; '-' for a missing value."""
    if _missing(x):
        return "-"
    x = float(x)
    for threshold, suffix in ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "k")):
        if abs(x) >= threshold:
            return f"{x / threshold:.3g}{suffix}"
    return f"{x:.3g}"
