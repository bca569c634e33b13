"""Optimizers: Adafactor and AdaX implemented here, the rest taken from torch.optim (see factory.py)."""

from optbench.optim.adafactor import Adafactor
from optbench.optim.adax import AdaX
from optbench.optim.factory import available_optimizers, build_optimizer

__all__ = ["Adafactor", "AdaX", "available_optimizers", "build_optimizer"]
