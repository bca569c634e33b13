"""Hydra loads sweepers only from the ``hydra_plugins`` namespace; the tuning logic lives in optbench.tune.

Only this subclass is a name in this module: Hydra lists every Sweeper class it finds here, so importing the base
class by name would show TuneSweeper twice in ``optbench --info plugins``.
"""

import optbench.tune


class TuneSweeper(optbench.tune.TuneSweeper):
    """Two-phase learning-rate tuning; see optbench.tune."""
