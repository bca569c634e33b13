"""Import a class named by a config's ``_target_``, with a one-line reason when it cannot be found.

Hydra's own ``get_class`` logs a multi-line error before raising; optbench reports bad input as one paragraph, so
the lookup is done here.
"""

from __future__ import annotations

import importlib
from typing import Any


def locate(path: Any) -> Any:
    """The object at dotted ``path`` (``package.module.Class``); ImportError with a one-line reason otherwise."""
    if not isinstance(path, str) or not path or path.startswith(".") or ".." in path:
        raise ImportError(f"{path!r} is not a dotted path such as package.module.Class")
    parts = path.split(".")
    for i in range(len(parts), 0, -1):
        module_name = ".".join(parts[:i])
        try:
            obj = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name and (module_name == exc.name or module_name.startswith(exc.name + ".")):
                continue  # this prefix is not a module: the rest may be attributes of a shorter one
            raise ImportError(f"importing {module_name} failed: {exc}") from None
        except Exception as exc:  # noqa: BLE001 - a user's module may raise anything while it is imported
            raise ImportError(f"importing {module_name} raised {type(exc).__name__}: {exc}") from None
        for j in range(i, len(parts)):
            if not hasattr(obj, parts[j]):
                raise ImportError(f"{'.'.join(parts[:j])} has no attribute {parts[j]!r}")
            obj = getattr(obj, parts[j])
        return obj
    raise ImportError(f"no module named {parts[0]!r}")
