"""Shared figure style: one fixed colour per optimizer in every figure, and saving as PNG + PDF."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from optbench.optim import available_optimizers  # noqa: E402

_PALETTE = plt.get_cmap("tab10").colors


def optimizer_colors() -> dict[str, tuple]:
    """Colours keyed by optimizer name, in the registry's (alphabetical) order, so they never change per figure."""
    return {name: _PALETTE[i % len(_PALETTE)] for i, name in enumerate(available_optimizers())}


def color(name: str) -> tuple:
    return optimizer_colors().get(name, (0.3, 0.3, 0.3))


def save(fig, out_dir: Path, stem: str) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = [out_dir / f"{stem}.png", out_dir / f"{stem}.pdf"]
    fig.savefig(paths[0], dpi=150, bbox_inches="tight")
    fig.savefig(paths[1], bbox_inches="tight")
    plt.close(fig)
    return paths
