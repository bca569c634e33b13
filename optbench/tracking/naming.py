"""How a run's variant switches show: in its id (a file-name slug), its label in reports and W&B, and which
config keys make up its identity.

A switch at its neutral value (bias correction on, the optimizer's own weight-decay mode, no wrapper,
``accumulate=1``) and the ``about`` declarations leave the id unchanged, so records made before a switch
existed still resume.
"""

from __future__ import annotations


def _native_weight_decay(optimizer_cfg: dict) -> str | None:
    return (optimizer_cfg.get("about") or {}).get("weight_decay")


def variant_parts(config: dict) -> list[tuple[str, str]]:
    """(slug, words) for each switch a run's config sets away from its neutral value, in a fixed order."""
    opt = config.get("optimizer") or {}
    parts = []
    if opt.get("bias_correction") is False:
        parts.append(("nobc", "no bias correction"))
    mode = opt.get("weight_decay_mode")
    if mode is not None and mode != _native_weight_decay(opt):
        parts.append((mode, "L2 weight decay" if mode == "l2" else "decoupled weight decay"))
    wrapper = config.get("wrapper")
    if wrapper:
        args = {k: v for k, v in wrapper.items() if k not in ("name", "_target_", "about")}
        shown = ", ".join(f"{k}={v}" for k, v in args.items() if k in ("k", "alpha"))
        slug = "-".join([wrapper["name"], *(f"{k}{v}" for k, v in args.items() if k in ("k", "alpha"))])
        parts.append((slug, f"{wrapper['name']} ({shown})" if shown else wrapper["name"]))
    k = config.get("accumulate") or 1
    if k != 1:
        parts.append((f"acc{k}", f"accumulate {k}"))
    return parts


def variant_label(config: dict) -> str:
    """How reports and W&B name a run's optimizer: 'adam', or 'adam, no bias correction, lookahead (k=5, ...)'."""
    name = (config.get("optimizer") or {}).get("name", "?")
    return ", ".join([name, *(words for _, words in variant_parts(config))])


def variant_slug(config: dict) -> str:
    """The same as a file-name part for run ids: 'adam', 'adam.nobc.lookahead-k5-alpha0.5'."""
    name = (config.get("optimizer") or {}).get("name", "?")
    return ".".join([name, *(slug for slug, _ in variant_parts(config))])


def neutral_removed(config: dict, keep_lrs: bool = False) -> dict:
    """``config`` without what leaves a run's behaviour unchanged: declarations (``about``, the task's table of tuned
    lrs, which reaches a run only as its ``optimizer.lr``) and switches at their neutral value. Records made before
    a switch existed keep their identity; ``keep_lrs`` gives the identity records had before ``task.lrs`` left it."""
    out = dict(config)
    task = dict(out.get("task") or {})
    task.pop("tune_metric", None)  # what tuning ranks the runs by, not how they train
    if not keep_lrs:
        task.pop("lrs", None)
    if not task.get("val_size", 1):
        task.pop("val_size", None)
    if "task" in out:
        out["task"] = task
    opt = dict(out.get("optimizer") or {})
    opt.pop("about", None)
    if opt.get("bias_correction") is True:
        opt.pop("bias_correction")
    if "weight_decay_mode" in opt and opt["weight_decay_mode"] == _native_weight_decay(config.get("optimizer") or {}):
        opt.pop("weight_decay_mode")
    out["optimizer"] = opt
    if out.get("accumulate", 1) in (1, None):
        out.pop("accumulate", None)
    if (out.get("distributed") or {}).get("name", "none") == "none":
        out.pop("distributed", None)
    if out.get("wrapper") is None:
        out.pop("wrapper", None)
    else:
        out["wrapper"] = {k: v for k, v in out["wrapper"].items() if k != "about"}
    return out


# Short names for the keys a family label shows (the rest: the key less its group's prefix).
SHORT_KEYS = {"optimizer.weight_decay": "wd", "optimizer.momentum": "momentum", "schedule.name": "schedule"}
MAX_LABEL_KEYS = 4


def short_key(key: str) -> str:
    """'optimizer.weight_decay' -> 'wd', 'optimizer.nesterov' -> 'nesterov', 'task.max_steps' -> 'max_steps'."""
    if key in SHORT_KEYS:
        return SHORT_KEYS[key]
    for prefix in ("optimizer.", "task.", "table2."):
        if key.startswith(prefix):
            return key[len(prefix) :]
    return key


def _shown(value) -> str:
    if value is None:
        return "unset"
    if isinstance(value, bool):
        return str(value).lower()
    return f"{value:g}" if isinstance(value, float) else str(value)


def explained(key: str, named: list[str], families: list[dict]) -> bool:
    """Whether ``key`` takes one value for each value of the ``named`` keys (a setting's name, like Table 2's row
    label, that says it already); False without named keys."""
    if not named:
        return False
    seen: dict[str, set[str]] = {}
    for fam in families:
        seen.setdefault(repr([fam.get(n) for n in named]), set()).add(repr(fam.get(key)))
    return all(len(values) == 1 for values in seen.values())


def shown_keys(keys: list[str], named: list[str], families: list[dict]) -> list[str]:
    """The differing keys a label shows beside the ``named`` ones: in turn (those of the named keys' own group
    first), each that what is shown already does not determine."""
    if not named:
        return keys
    groups = {n.rsplit(".", 1)[0] for n in named}
    ordered = sorted((k for k in keys if k not in named), key=lambda k: k.rsplit(".", 1)[0] not in groups)
    shown: list[str] = []
    for key in ordered:
        if not explained(key, named + shown, families):
            shown.append(key)
    return shown


def family_labels(labels: list[str], families: list[dict], tasks: list[str] | None = None) -> list[str]:
    """Per run, its variant ``label`` plus what sets its configuration family (``store.family``, as a dict) apart
    from the other families of that label on the same task (``tasks``; runs of different tasks are never compared):
    'adamw, wd=0.5', 'momentum, nesterov=true'. Where the configs name their setting (a ``*.label`` key, as Table
    2's rows do), that name stands for the keys it explains: 'adafactor, relative step (Adafactor), warmup=true'. A
    label with one family stays as it is; the lr and the seed never show (a report picks the lr, and seeds are a
    group's members). Past ``MAX_LABEL_KEYS`` differing keys, the rest is counted and a short hash keeps labels
    apart."""
    import hashlib
    import json

    scopes = list(zip(tasks or [""] * len(labels), labels, strict=True))
    by_scope: dict[tuple[str, str], list[dict]] = {}
    for scope, fam in zip(scopes, families, strict=True):
        by_scope.setdefault(scope, []).append(fam)
    shown = {}  # per scope: (the keys naming a setting, the other keys to show), worked out once
    for scope, fams in by_scope.items():
        keys = sorted({k for fam in fams for k in fam})
        differing = [k for k in keys if len({repr(f.get(k)) for f in fams}) > 1]
        named = [k for k in differing if k.endswith(".label")]  # a setting's own name ('relative step (Adafactor)')
        shown[scope] = (named, shown_keys(differing, named, fams))
    out = []
    for scope, fam in zip(scopes, families, strict=True):
        named, keys = shown[scope]
        parts = [_shown(fam.get(k)) for k in named]
        parts += [f"{short_key(k)}={_shown(fam.get(k))}" for k in keys[:MAX_LABEL_KEYS]]
        if len(keys) > MAX_LABEL_KEYS:
            digest = hashlib.sha256(json.dumps(fam, sort_keys=True, default=str).encode()).hexdigest()[:6]
            parts.append(f"+{len(keys) - MAX_LABEL_KEYS} more ({digest})")
        out.append(", ".join([scope[1], *parts]))
    return out
