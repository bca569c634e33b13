"""optbench's C++ CPU kernels (``optbench/optim/csrc``), compiled on first use and loaded as torch ops.

``torch.utils.cpp_extension`` compiles a kernel once per machine (about 15 s; the result is cached under
``TORCH_EXTENSIONS_DIR``, by default ``~/.cache/torch_extensions``) and later processes load it in milliseconds.
It needs a C++ compiler and ninja. Where the build fails, the loader logs why once and returns None, and the
optimizer runs its stock-PyTorch fast path instead, which computes the same update.
"""

from __future__ import annotations

import functools
import logging
import os
import re
import shutil
from pathlib import Path
from typing import Any

import torch

log = logging.getLogger(__name__)

SOURCES = Path(__file__).parent / "csrc"

# Vector instructions for the kernel's loops, from the CPU capability torch itself dispatches to. The capability is
# part of the extension's name, so machines sharing a cache directory never load a build their CPU cannot run.
# AVX-512 machines get the AVX2 build too: on the memory-bound loops it measured as fast or faster.
SIMD_FLAGS = {"AVX2": ["-mavx2", "-mfma"], "AVX512": ["-mavx2", "-mfma"]}


def _ensure_ninja() -> None:
    """cpp_extension runs ``ninja`` from PATH; the ninja wheel (a dependency) puts it in its own BIN_DIR."""
    if shutil.which("ninja") is None:
        import ninja

        os.environ["PATH"] = ninja.BIN_DIR + os.pathsep + os.environ.get("PATH", "")


def _reason(exc: Exception) -> str:
    """The telling lines of a build failure: the compiler's errors rather than the command lines ninja echoes."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    telling = [
        line
        for line in lines
        if re.search(r"error:|not found|no such file|fatal", line, re.IGNORECASE)
        and not line.startswith("Error building extension")
    ]
    return f"{type(exc).__name__}: " + " | ".join(telling[:3] or lines[-1:])


@functools.cache
def adafactor_kernels() -> Any | None:
    """The ops ``adafactor_factored_`` and ``adafactor_unfactored_`` (the ``torch.ops.optbench`` namespace),
    building them if needed; None if they cannot be built here."""
    from torch.utils import cpp_extension

    capability = torch.backends.cpu.get_cpu_capability()
    name = f"optbench_adafactor_{capability.lower()}"
    try:
        _ensure_ninja()
        log.info("Loading optbench's Adafactor CPU kernel (compiled once per machine, about 15 s)")
        cpp_extension.load(
            name=name,
            sources=[str(SOURCES / "adafactor_cpu.cpp")],
            extra_cflags=["-O3", "-fopenmp", *SIMD_FLAGS.get(capability, [])],
            extra_ldflags=["-fopenmp"],
            is_python_module=False,
        )
    except Exception as exc:  # noqa: BLE001 - a missing compiler, ninja or header shows up as several types
        log.warning(
            "optbench's Adafactor CPU kernel could not be built (%s); Adafactor uses its foreach path, which "
            "computes the same update more slowly. Install a C++ compiler to enable the kernel.",
            _reason(exc),
        )
        return None
    return torch.ops.optbench
