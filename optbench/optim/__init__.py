"""Optimizers: Adafactor, AdaX and the Muon hybrid implemented here; the rest from torch.optim and libraries.

conf/optimizer/ is the registry: one YAML per optimizer (see factory.py and about.py).
"""

from optbench.optim.adafactor import Adafactor
from optbench.optim.adax import AdaX
from optbench.optim.factory import available_optimizers, build_optimizer
from optbench.optim.muon_hybrid import MuonHybrid

__all__ = ["Adafactor", "AdaX", "MuonHybrid", "available_optimizers", "build_optimizer"]
