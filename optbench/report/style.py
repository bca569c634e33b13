"""Shared figure style: one fixed colour per optimizer in every figure, and saving as PNG + PDF.

Optimizers are coloured by family (``about.family`` in their YAML): one colour map per family, one shade per
member, so with two dozen optimizers a reader still sees which are Adam's relatives and which are sign or
matrix methods. A variant ('adam, no bias correction') takes its base optimizer's hue, darker.
"""

from __future__ import annotations

import zlib
from functools import lru_cache
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from optbench.optim import available_optimizers  # noqa: E402
from optbench.optim.about import read_about  # noqa: E402
from optbench.optim.factory import load_optimizer_config  # noqa: E402

# family -> colour map; families in the order figures list them
FAMILY_MAPS = {
    "sgd": "Greys",
    "adagrad": "YlOrBr",
    "adam": "Blues",
    "memory-efficient": "Greens",
    "sign": "Reds",
    "matrix": "Purples",
    "schedule-free": "RdPu",
    "other": "copper",
}


@lru_cache(maxsize=1)
def families() -> dict[str, str]:
    """Family of every optimizer in the registry (``about.family``)."""
    out = {}
    for name in available_optimizers():
        try:
            out[name] = read_about(load_optimizer_config(name)).family
        except Exception:  # noqa: BLE001 - a broken YAML is reported by the run that uses it, not by a figure
            out[name] = "other"
    return out


def base_name(label: str) -> str:
    """'adam, no bias correction' -> 'adam'."""
    return label.split(",")[0].strip()


def family(label: str) -> str:
    return families().get(base_name(label), "other")


@lru_cache(maxsize=1)
def optimizer_colors() -> dict[str, tuple]:
    """Colours keyed by optimizer name, fixed by the registry (family, then name), never changing per figure."""
    members: dict[str, list[str]] = {}
    for name, fam in sorted(families().items()):
        members.setdefault(fam if fam in FAMILY_MAPS else "other", []).append(name)
    out = {}
    for fam, names in members.items():
        cmap = plt.get_cmap(FAMILY_MAPS[fam])
        for i, name in enumerate(names):  # shades from 0.45 to 0.95 of the map: light enough to tell apart
            out[name] = cmap(0.45 + 0.5 * (i + 1) / (len(names) + 1) if len(names) > 1 else 0.75)
    return out


def color(label: str) -> tuple:
    base = optimizer_colors().get(base_name(label), (0.3, 0.3, 0.3, 1.0))
    if base_name(label) != label:  # a variant or another configuration: the same hue, darker, by its name
        shade = VARIANT_SHADES[zlib.crc32(label.encode()) % len(VARIANT_SHADES)]
        return tuple(shade * c for c in base[:3]) + (1.0,)
    return base


VARIANT_SHADES = (0.6, 0.4, 0.8)


LINE_STYLES = ("-", "--", "-.", ":")
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")


def _member_index(label: str) -> int:
    fam = family(label)
    members = sorted(n for n, f in families().items() if f == fam)
    base = base_name(label)
    return members.index(base) if base in members else 0


def line_style(label: str) -> str:
    """Members of one family differ in line style as well as shade; so do configurations of one optimizer."""
    shift = zlib.crc32(label.encode()) % len(LINE_STYLES) if base_name(label) != label else 0
    return LINE_STYLES[(_member_index(label) + shift) % len(LINE_STYLES)]


def marker(label: str) -> str:
    return MARKERS[_member_index(label) % len(MARKERS)]


def by_family(names) -> list[str]:
    """``names`` ordered by family (FAMILY_MAPS' order), then by name."""
    order = {f: i for i, f in enumerate(FAMILY_MAPS)}
    return sorted(names, key=lambda n: (order.get(family(n), len(order)), n))


def save(fig, out_dir: Path, stem: str) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = [out_dir / f"{stem}.png", out_dir / f"{stem}.pdf"]
    fig.savefig(paths[0], dpi=150, bbox_inches="tight")
    fig.savefig(paths[1], bbox_inches="tight", metadata={"CreationDate": None})  # re-renders are byte-identical
    plt.close(fig)
    return paths
