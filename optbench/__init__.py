"""optbench: compare optimizers on fixed tasks with honest memory and throughput measurements."""

__version__ = "0.1.0"
