"""``optbench-wandb-sweep``: a W&B sweep configuration from an optbench sweep's Hydra overrides.

    optbench-wandb-sweep task=mnist_mlp optimizer=adam,adamw seed=0,1,2 -o sweep.yaml
    wandb sweep sweep.yaml          # prints the sweep id
    wandb agent <entity>/<project>/<sweep id>

Each swept override becomes a W&B parameter (``a,b`` and ``choice(...)``/``range(...)`` as values,
``interval(lo,hi)`` as a uniform distribution, ``tag(log, interval(lo,hi))`` as a log-uniform one), each fixed one
a constant; the agent calls ``optbench`` with the sampled ``key=value`` pairs (``${args_no_hyphens}``), so every
run is an ordinary optbench run: the same run id, store record and W&B logging. The sweep's metric is the summary
key the tuning sweepers rank by (``tune_metric``: the command's, else the task's own, else ``final_metric``), its
goal the way that score points (the task's direction for its headline metric; losses are minimised). Hydra stays
the primary path: ``optbench -m ...`` runs the same sweep without a W&B server.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import yaml
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import ChoiceSweep, IntervalSweep, Override, RangeSweep
from hydra.errors import HydraException

from optbench.errors import OptbenchError

METHODS = ("grid", "random", "bayes")


def _plain(value: Any) -> Any:
    """A parsed Hydra value as YAML writes it (Hydra's quoted strings become plain strings)."""
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value if isinstance(value, (bool, int, float)) or value is None else str(value)


def parameter(override: Override) -> dict[str, Any]:
    """The W&B sweep parameter for one Hydra override."""
    if not override.is_sweep_override():
        return {"value": _plain(override.value())}
    sweep = override.value()
    if isinstance(sweep, ChoiceSweep):
        return {"values": [_plain(v) for v in sweep.list]}
    if isinstance(sweep, RangeSweep):
        return {"values": [_plain(v) for v in override.sweep_iterator()]}
    if isinstance(sweep, IntervalSweep):
        log = "log" in (sweep.tags or set())
        ints = isinstance(sweep.start, int) and isinstance(sweep.end, int) and not log
        kind = "log_uniform_values" if log else ("int_uniform" if ints else "uniform")
        return {"distribution": kind, "min": sweep.start, "max": sweep.end}
    raise OptbenchError(f"{override.input_line}: this sweep cannot be written as a W&B parameter.")


def sweep_metric(overrides: list[Override], metric: str | None) -> tuple[str, str]:
    """(the summary key the sweep ranks by, 'maximize' or 'minimize'): the command's ``tune_metric``, else the
    composed config's (the task's own, e.g. its validation loss), else ``final_metric``; its goal is the way that
    score points (``resolvers.direction``; every swept task must point the same way)."""
    from optbench.api import compose
    from optbench.resolvers import direction

    task = next((o for o in overrides if o.key_or_group == "task"), None)
    tasks = [None] if task is None else list(parameter(task).get("values", [parameter(task).get("value")]))
    found = set()
    for t in tasks:
        cfg = compose(*([f"task={t}"] if t else []))
        name = metric or cfg.get("tune_metric") or "final_metric"
        found.add((name, direction(cfg.task, name)))
    if len(found) > 1:
        raise OptbenchError(
            f"the swept tasks {tasks} rank by different scores or in different directions ({sorted(found)}); one "
            f"W&B sweep has one metric and goal, so sweep the tasks separately."
        )
    return found.pop()


def sweep_config(
    args: list[str],
    method: str | None = None,
    project: str | None = None,
    entity: str | None = None,
    name: str | None = None,
) -> dict[str, Any]:
    """The W&B sweep configuration for ``optbench -m <args>``."""
    try:
        overrides = OverridesParser.create().parse_overrides(args)
    except HydraException as exc:
        raise OptbenchError(f"{' '.join(args)}: not Hydra overrides ({str(exc).splitlines()[0]}).") from None
    if method is not None and method not in METHODS:
        raise OptbenchError(f"--method {method!r} is not a W&B sweep method; choose one of {', '.join(METHODS)}.")
    params = {o.get_key_element(): parameter(o) for o in overrides}
    continuous = any("distribution" in p for p in params.values())
    if method == "grid" and continuous:
        raise OptbenchError("--method grid needs every swept value listed; interval(...) needs random or bayes.")
    metric, goal = sweep_metric(
        overrides, next((str(p["value"]) for k, p in params.items() if k == "tune_metric" and "value" in p), None)
    )
    if project:
        params["logger.project"] = {"value": project}
    if entity:
        params["logger.entity"] = {"value": entity}
    params["logger.mode"] = {"value": "online"}  # a W&B agent reports to its server
    config: dict[str, Any] = {
        "program": "optbench",
        "method": method or ("random" if continuous else "grid"),
        "metric": {"name": metric, "goal": goal},
        "parameters": params,
        "command": ["${env}", "optbench", "${args_no_hyphens}"],
    }
    if name:
        config = {"name": name, **config}
    if project:
        config["project"] = project
    if entity:
        config["entity"] = entity
    return config


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="optbench-wandb-sweep",
        description="Write a W&B sweep configuration (for `wandb sweep`) from optbench's Hydra sweep overrides.",
    )
    parser.add_argument("overrides", nargs="*", help="Hydra overrides, as for `optbench -m`, e.g. optimizer=adam,sgd")
    parser.add_argument("--method", choices=METHODS, help="W&B search method (default: grid, random if continuous)")
    parser.add_argument("--project", help="W&B project (also passed to each run as logger.project)")
    parser.add_argument("--entity", help="W&B entity (also passed as logger.entity)")
    parser.add_argument("--name", help="the sweep's name in W&B")
    parser.add_argument("-o", "--output", help="write the YAML here (default: print it)")
    args = parser.parse_intermixed_args(argv)
    try:
        config = sweep_config(args.overrides, args.method, args.project, args.entity, args.name)
    except OptbenchError as exc:
        print(f"optbench-wandb-sweep: error: {exc}", file=sys.stderr)
        sys.exit(2)
    text = yaml.safe_dump(config, sort_keys=False)
    if args.output:
        Path(args.output).write_text(text)
        print(f"wrote {args.output}; start it with: wandb sweep {args.output}", file=sys.stderr)
    else:
        print(text, end="")


if __name__ == "__main__":
    main()
