"""optbench: compare optimizers on fixed tasks with honest memory and throughput measurements.

The Python API (see the README's "Python API"): ``build_optimizer``, ``compose``, ``run``, ``load_store``, and
``COLUMNS`` (the typed columns of ``load_store``). They load on first use, so ``optbench --help`` stays fast.
"""

__version__ = "0.1.0"

__all__ = ["COLUMNS", "OptbenchError", "__version__", "build_optimizer", "compose", "load_store", "run"]


def __getattr__(name: str):
    if name == "OptbenchError":
        from optbench.errors import OptbenchError

        return OptbenchError
    if name in ("COLUMNS", "build_optimizer", "compose", "load_store", "run"):
        from optbench import api

        return getattr(api, name)
    raise AttributeError(f"module 'optbench' has no attribute {name!r}")
