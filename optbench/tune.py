"""The tuning protocol as a Hydra sweeper (DeepOBS / "Crowded Valley" style), so it is one command:

    optbench -m experiment=tune optimizer=adafactor            # one optimizer
    optbench -m experiment=optimizer_shootout task=mnist_mlp   # all eight

For every combination of the command's other sweep values (a "group", e.g. one optimizer), phase 1 runs a
log-spaced lr grid around the group's default lr on one seed; the best lr by the run's final metric, in the
task's direction (``higher_is_better``; a diverged or failed run counts as the worst), is then rerun on every seed
of ``seeds`` in phase 2. A grid whose best lr sits at one of its ends says only that the optimum may lie beyond
it: with ``extend_edges: k`` the grid grows past that end, one more point at the grid's own log spacing per round,
up to k rounds, until the best is inside. Both phases go through the configured launcher (sequential, joblib,
submitit) and share the sweep's group name in W&B and the store; the phase-2 run with the grid's seed is the grid
run itself, so the store skips it.
"""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path
from typing import Any

import numpy as np
from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
from hydra.core.override_parser.overrides_parser import OverridesParser
from omegaconf import OmegaConf

from optbench.errors import exit_on_bad_setting
from optbench.progress import plan_jobs
from optbench.ranking import best_index, higher_is_better, oriented, score_direction

log = logging.getLogger(__name__)


def lr_grid(
    default_lr: float,
    num: int,
    min_factor: float,
    max_factor: float,
    lr_min: float | None = None,
    lr_max: float | None = None,
) -> list[float]:
    """``num`` log-spaced learning rates from lr_min to lr_max (default: default_lr x [min_factor, max_factor])."""
    low = lr_min if lr_min is not None else default_lr * min_factor
    high = lr_max if lr_max is not None else default_lr * max_factor
    if not 0 < low <= high or num < 1:
        raise ValueError(f"bad lr grid: from {low} to {high} with {num} points (need 0 < low <= high, num >= 1)")
    return [float(f"{x:.6g}") for x in np.logspace(math.log10(low), math.log10(high), num)]


def past_edge(grid: list[float], scores: list[Any], higher: bool) -> float | None:
    """The next lr beyond the end of a (sorted, log-spaced) grid where its best score sits, at the grid's own
    spacing; None when the best is inside, or when no run finished (nothing says which way to go)."""
    if len(grid) < 2 or all(oriented(s, higher) == -math.inf for s in scores):
        return None
    best = best_index(scores, higher)
    if best not in (0, len(grid) - 1):
        return None
    ratio = grid[1] / grid[0] if best == 0 else grid[-1] / grid[-2]
    return float(f"{grid[best] / ratio if best == 0 else grid[best] * ratio:.6g}")


def _check_coordinates(coordinates: Any) -> dict[str, dict[str, list]]:
    """``coordinates``: {config key: [values]} or {config key: {factors: [multiples of the default]}}."""
    out: dict[str, dict[str, list]] = {}
    for key, spec in (
        OmegaConf.to_container(coordinates) if OmegaConf.is_config(coordinates) else coordinates or {}
    ).items():
        if isinstance(spec, list) and spec:
            out[str(key)] = {"values": spec}
        elif isinstance(spec, dict) and set(spec) == {"factors"} and spec["factors"]:
            out[str(key)] = {"factors": [float(f) for f in spec["factors"]]}
        else:
            exit_on_bad_setting(
                f"hydra.sweeper.coordinates.{key}={spec!r} must be a non-empty list of values, e.g. [0, 0.01, 0.1], "
                "or {factors: [...]}, multiples of the default (e.g. {factors: [0, 0.5, 2]} for warmup steps)."
            )
    return out


def override(key: str, value: Any) -> str:
    """``key=value`` as Hydra parses it back (lists as [a,b], None as null)."""
    if isinstance(value, (list, tuple)):
        return f"{key}=[{','.join(str(v) for v in value)}]"
    return f"{key}={'null' if value is None else value}"


class TuneSweeper(BasicSweeper):
    def __init__(
        self,
        num_lrs: int = 7,
        lr_min_factor: float = 0.01,
        lr_max_factor: float = 10.0,
        lr_min: float | None = None,
        lr_max: float | None = None,
        grid_seed: int = 0,
        seeds: list[int] | None = None,
        direction: str | None = None,
        extend_edges: int = 0,
        coordinates: dict[str, Any] | None = None,
        max_batch_size: int | None = None,
        params: dict[str, str] | None = None,
    ) -> None:
        super().__init__(max_batch_size=max_batch_size, params=params)
        if direction not in (None, "maximize", "minimize"):
            exit_on_bad_setting(
                f"hydra.sweeper.direction={direction!r}: choose maximize, minimize or null (the task's)."
            )
        self.grid_args = dict(
            num=num_lrs, min_factor=lr_min_factor, max_factor=lr_max_factor, lr_min=lr_min, lr_max=lr_max
        )
        if not isinstance(extend_edges, int) or isinstance(extend_edges, bool) or extend_edges < 0:
            exit_on_bad_setting(
                f"hydra.sweeper.extend_edges={extend_edges!r} must be a whole number >= 0: the rounds the grid may "
                "grow past an end that holds the best (0 = the grid as given)."
            )
        self.grid_seed, self.seeds, self.direction = grid_seed, list(seeds or [0, 1, 2]), direction
        self.extend_edges = extend_edges
        self.coordinates = _check_coordinates(coordinates)

    def _group_settings(self, group: list[str]) -> tuple[float, bool]:
        """(default lr, higher_is_better) of one group's composed config; the direction is that of the score the
        runs are ranked by (the task's for its headline metric, lower for a ``tune_metric`` loss) unless
        ``direction`` is set."""
        cfg = self.hydra_context.config_loader.load_sweep_config(self.config, list(group))
        task_way = score_direction(cfg.get("tune_metric"), higher_is_better(cfg.task))
        higher = task_way if self.direction is None else self.direction == "maximize"
        return float(OmegaConf.select(cfg, "optimizer.lr")), higher

    def _launch(self, batch: list[list[str]], start: int) -> list[Any]:
        self.validate_batch_is_legal(batch)
        results = self.launcher.launch(batch, initial_job_idx=start)
        scores = []
        for r in results:
            try:
                value = r.return_value
            except Exception as exc:  # noqa: BLE001 - a job that raised counts as the worst score
                log.error("job %s failed: %s", r.overrides, exc)
                value = None
            # a run without a finite score (diverged, failed: the job returns the worst value) has none
            scores.append(value if isinstance(value, (int, float)) and math.isfinite(value) else None)
        return scores

    def _extend_past_edges(
        self, groups: list[list[str]], grids: list[list[float]], scores: list[list[Any]], settings, launched: int
    ) -> int:
        """Grow each grid whose best is at an end (in place, kept sorted), ``extend_edges`` rounds at most; returns
        the number of jobs launched so far."""
        for _ in range(self.extend_edges):
            todo = []
            for i, (group, grid, (_, higher)) in enumerate(zip(groups, grids, settings, strict=True)):
                lr = past_edge(grid, scores[i], higher)
                if lr is not None:
                    todo.append((i, lr))
                    edge = grid[0] if lr < grid[0] else grid[-1]
                    log.info("Best lr of %s at the grid's end (%g): adding lr=%g", " ".join(group), edge, lr)
            if not todo:
                break
            batch = [[*groups[i], f"optimizer.lr={lr}", f"seed={self.grid_seed}", "tags=[tune,grid]"] for i, lr in todo]
            self.planned += len(batch)
            plan_jobs(self.config.hydra.sweep.dir, self.planned)
            new_scores = self._launch(batch, launched)
            launched += len(batch)
            for (i, lr), score in zip(todo, new_scores, strict=True):
                at = 0 if lr < grids[i][0] else len(grids[i])
                grids[i].insert(at, lr)
                scores[i].insert(at, score)
        return launched

    def sweep(self, arguments: list[str]) -> Any:
        parser = OverridesParser.create(config_loader=self.hydra_context.config_loader)
        overrides = parser.parse_overrides([*self._parse_config(), *arguments])
        groups = self.split_arguments(overrides, None)[0]
        swept = {o.get_key_element() for o in overrides if o.is_sweep_override()}
        sweep_dir = Path(self.config.hydra.sweep.dir)
        sweep_dir.mkdir(parents=True, exist_ok=True)
        OmegaConf.save(self.config, sweep_dir / "multirun.yaml")

        settings = [self._group_settings(g) for g in groups]
        grids = [lr_grid(lr, **self.grid_args) for lr, _ in settings]
        phase1 = [
            [*g, f"optimizer.lr={lr}", f"seed={self.grid_seed}", "tags=[tune,grid]"]
            for g, grid in zip(groups, grids, strict=True)
            for lr in grid
        ]
        self.planned = len(phase1) + len(groups) * len(self.seeds)  # grown when a grid is extended
        plan_jobs(sweep_dir, self.planned)
        log.info("Tuning phase 1: %d groups x %d learning rates on seed %d", len(groups), len(grids[0]), self.grid_seed)
        scores = self._launch(phase1, 0)
        launched = len(phase1)
        per_group, k = [], 0
        for grid in grids:
            per_group.append(scores[k : k + len(grid)])
            k += len(grid)
        launched = self._extend_past_edges(groups, grids, per_group, settings, launched)

        best_lrs = [
            grid[best_index(s, higher)] for grid, s, (_, higher) in zip(grids, per_group, settings, strict=True)
        ]
        chosen, tables, launched = self._coordinate_descent(groups, settings, best_lrs, launched)

        results, phase2 = [], []
        for group, grid, group_scores, (_, higher), best, picks, table in zip(
            groups, grids, per_group, settings, best_lrs, chosen, tables, strict=True
        ):
            label = " ".join(o for o in group if o.split("=", 1)[0] in swept) or "(base)"
            results.append(
                {
                    "label": label,
                    "group": group,
                    "direction": "maximize" if higher else "minimize",
                    "grid": grid,
                    "scores": group_scores,
                    "best_lr": best,
                    "coordinates": table,
                    "best": {"optimizer.lr": best, **picks},
                }
            )
            tuned = [override(k, v) for k, v in picks.items()]
            phase2 += [[*group, f"optimizer.lr={best}", *tuned, f"seed={s}", "tags=[tune,final]"] for s in self.seeds]
        log.info("Tuning phase 2: best lr x seeds %s", self.seeds)
        final_scores = self._launch(phase2, launched)
        n = len(self.seeds)
        for i, res in enumerate(results):
            res["final_scores"] = final_scores[i * n : (i + 1) * n]
        (sweep_dir / "tune_results.json").write_text(json.dumps(results, indent=2) + "\n")
        if self.coordinates:
            (sweep_dir / "tuning_table.md").write_text(tuning_table(results))
        print(f"\nBest learning rates (phase 1 grid on seed {self.grid_seed}; phase 2 seeds {self.seeds}):")
        for res in results:
            finals = [s for s in res["final_scores"] if s is not None]
            mean = f"{np.mean(finals):.4g}" if finals else "diverged"
            picked = "".join(f"  {k}={v}" for k, v in res["best"].items() if k != "optimizer.lr")
            print(f"  {res['label']}: lr={res['best_lr']:g}{picked}  final metric mean={mean}")
        return results

    def _coordinate_descent(
        self, groups: list[list[str]], settings, best_lrs: list[float], launched: int
    ) -> tuple[list[dict[str, Any]], list[list[dict[str, Any]]], int]:
        """After the lr grid, each coordinate in turn: its values tried with lr and the coordinates before it at
        their best, on the grid seed; the best value kept (the default wins ties). Returns each group's picks,
        its tuning table rows, and the jobs launched so far. A coordinate a group's config lacks is skipped."""
        chosen: list[dict[str, Any]] = [{} for _ in groups]
        tables: list[list[dict[str, Any]]] = [[] for _ in groups]
        for key, spec in self.coordinates.items():
            batch, owners = [], []
            for i, group in enumerate(groups):
                cfg = self.hydra_context.config_loader.load_sweep_config(self.config, list(group))
                default = OmegaConf.select(cfg, key, default="__missing__")
                if default == "__missing__":
                    tables[i].append({"key": key, "values": [], "scores": [], "picked": "n/a (not in this config)"})
                    continue
                default = OmegaConf.to_container(default) if OmegaConf.is_config(default) else default
                if "factors" in spec:
                    values = [
                        type(default)(default * f) if isinstance(default, (int, float)) else default
                        for f in spec["factors"]
                    ]
                else:
                    values = list(spec["values"])
                values = [default, *[v for v in values if v != default]]  # the default first: it wins ties
                fixed = [f"optimizer.lr={best_lrs[i]}", *(override(k, v) for k, v in chosen[i].items())]
                for value in values:
                    batch.append([*group, *fixed, override(key, value), f"seed={self.grid_seed}", "tags=[tune,grid]"])
                    owners.append((i, value))
            if not batch:
                continue
            self.planned += len(batch)
            plan_jobs(self.config.hydra.sweep.dir, self.planned)
            log.info("Tuning %s: %d runs", key, len(batch))
            scores = self._launch(batch, launched)
            launched += len(batch)
            for i in sorted({i for i, _ in owners}):
                values = [v for (j, v) in owners if j == i]
                got = [s for (j, _), s in zip(owners, scores, strict=True) if j == i]
                pick = values[best_index(got, settings[i][1])]
                chosen[i][key] = pick
                tables[i].append({"key": key, "values": values, "scores": got, "picked": pick})
        return chosen, tables, launched


def tuning_table(results: list[dict[str, Any]]) -> str:
    """Markdown: per tuned group, each coordinate's values with their scores on the grid seed, and the pick."""
    lines = []
    for res in results:
        lines += [
            f"## {res['label']} ({res['direction']})",
            "",
            "| coordinate | value: score | picked |",
            "|---|---|---|",
        ]
        grid = ", ".join(f"{lr:g}: {_score(s)}" for lr, s in zip(res["grid"], res["scores"], strict=True))
        lines.append(f"| optimizer.lr | {grid} | {res['best_lr']:g} |")
        for row in res.get("coordinates", []):
            tried = ", ".join(f"{v}: {_score(s)}" for v, s in zip(row["values"], row["scores"], strict=True))
            lines.append(f"| {row['key']} | {tried or '-'} | {row['picked']} |")
        lines.append("")
    return "\n".join(lines)


def _score(value: Any) -> str:
    return "diverged" if value is None or (isinstance(value, float) and not math.isfinite(value)) else f"{value:.4g}"
