"""optbench's C++ CPU kernels (``optbench/optim/csrc``), compiled on first use and loaded as torch ops.

This is the one module that touches ``torch.utils.cpp_extension``. A kernel is compiled once per machine (about
15 s) into a build folder named by a hash of what determines the binary: the source text, the compiler flags, the
CPU capability and the torch version, never the path the package was imported from. A later process, whether it
started from the ``optbench`` command or from Python in a checkout, finds that folder's library and loads it with
``torch.ops.load_library`` in milliseconds, without running the compiler or ninja. Build folders live under
``$TORCH_EXTENSIONS_DIR/optbench`` (by default ``~/.cache/torch_extensions/optbench``).

Building needs a C++ compiler and ninja. Where it fails, the loader logs why once and returns None, and the
optimizer runs its stock-PyTorch fast path instead, which computes the same update. The runner calls the loader
before its clock starts (``Optimizer.prepare``), so compiling is never counted as training time.
"""

from __future__ import annotations

import functools
import hashlib
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
# part of the build's key, so machines sharing a cache directory never load a build their CPU cannot run.
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


def cache_root() -> Path:
    """Where build folders go: ``$TORCH_EXTENSIONS_DIR/optbench``, else ``~/.cache/torch_extensions/optbench``."""
    base = os.environ.get("TORCH_EXTENSIONS_DIR") or Path.home() / ".cache" / "torch_extensions"
    return Path(base) / "optbench"


def build_key(source: bytes, cflags: list[str], capability: str, torch_version: str) -> str:
    """12 hex digits of everything the compiled library depends on (and nothing about where files are)."""
    digest = hashlib.sha256()
    for part in (source, "\0".join(cflags).encode(), capability.encode(), torch_version.encode()):
        digest.update(part)
        digest.update(b"\1")
    return digest.hexdigest()[:12]


def load_kernel(stem: str) -> bool:
    """Build (if needed) and load ``csrc/<stem>.cpp`` as torch ops; True on success, False (logged) if not."""
    from torch.utils import cpp_extension

    capability = torch.backends.cpu.get_cpu_capability()
    cflags = ["-O3", "-fopenmp", *SIMD_FLAGS.get(capability, [])]
    source = (SOURCES / f"{stem}.cpp").read_bytes()
    name = f"optbench_{stem}_{capability.lower()}_{build_key(source, cflags, capability, torch.__version__)}"
    build_dir = cache_root() / name
    library = build_dir / f"{name}.so"
    try:
        if library.is_file() and not (build_dir / "lock").exists():  # built before, and no build under way
            torch.ops.load_library(str(library))
            return True
        _ensure_ninja()
        build_dir.mkdir(parents=True, exist_ok=True)
        stable_source = build_dir / f"{stem}.cpp"  # compiled from here, so ninja's command never depends on paths
        if not stable_source.is_file() or stable_source.read_bytes() != source:
            stable_source.write_bytes(source)
        log.info("Compiling optbench's %s kernel (once per machine, about 15 s)", stem)
        cpp_extension.load(
            name=name,
            sources=[str(stable_source)],
            extra_cflags=cflags,
            extra_ldflags=["-fopenmp"],
            build_directory=str(build_dir),
            is_python_module=False,
        )
    except Exception as exc:  # noqa: BLE001 - a missing compiler, ninja or header shows up as several types
        log.warning(
            "optbench's %s kernel could not be built (%s); the optimizer uses its foreach path, which computes the "
            "same update more slowly. Install a C++ compiler to enable the kernel.",
            stem,
            _reason(exc),
        )
        return False
    return True


@functools.cache
def adafactor_kernels() -> Any | None:
    """The ops ``adafactor_factored_`` and ``adafactor_unfactored_`` (the ``torch.ops.optbench`` namespace),
    building them if needed; None if they cannot be built here."""
    return torch.ops.optbench if load_kernel("adafactor_cpu") else None
