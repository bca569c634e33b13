"""Hydra loads sweepers only from the ``hydra_plugins`` namespace; the tuning logic lives in optbench.tune."""

from optbench.tune import TuneSweeper as _TuneSweeper


class TuneSweeper(_TuneSweeper):
    """Two-phase learning-rate tuning; see optbench.tune."""
