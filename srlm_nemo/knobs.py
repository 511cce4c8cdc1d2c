"""Knobs that describe themselves: each config field carries its help, its choices or range, and
whose its default is, in its metadata (as TRL's `field(metadata={"help": ...})` does). The checks
that every field must pass and `srlm config` both read that metadata, so a new knob is checked
and documented the day it is added.

    beta: float = knob(0.1, "DPO's KL coefficient", gt=0, source="paper")

Sources: "paper" (Yuan et al. 2024, or the method's own paper where the knob belongs to an
option), "ours" (a choice of this project, not stated by a paper), "site" (a fact of your
machine or cluster: paths, partitions, GPUs).
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import field
from typing import Any, Callable, Iterator

SOURCES = ("paper", "ours", "site")
INT_LIMIT = 2**31 - 1


def knob(default: Any = dataclasses.MISSING, help: str = "", *, source: str, choices: tuple | None = None,
         ge: float | None = None, gt: float | None = None, le: float | None = None, lt: float | None = None,
         factory: Callable | None = None) -> Any:
    """A dataclass field with its description; `factory` for a mutable default (a list)."""
    assert source in SOURCES, source
    meta = {"help": help, "source": source, "choices": choices, "ge": ge, "gt": gt, "le": le, "lt": lt}
    if factory is not None:
        return field(default_factory=factory, metadata=meta)
    return field(default=default, metadata=meta)


def section(cls) -> Any:
    """A nested section (its own dataclass), described by its class docstring."""
    return field(default_factory=cls, metadata={"section": True})


def walk(cfg, prefix: str = "") -> Iterator[tuple[str, dataclasses.Field, Any]]:
    """(dotted key, field, value) of every knob under `cfg`, sections flattened, in order."""
    for f in dataclasses.fields(cfg):
        value = getattr(cfg, f.name)
        if dataclasses.is_dataclass(value):
            yield from walk(value, f"{prefix}{f.name}.")
        else:
            yield f"{prefix}{f.name}", f, value


def range_text(meta: dict) -> str:
    lo = (
        f"[{meta['ge']:g}" if meta.get("ge") is not None else f"({meta['gt']:g}" if meta.get("gt") is not None else None
    )
    hi = (
        f"{meta['le']:g}]" if meta.get("le") is not None else f"{meta['lt']:g})" if meta.get("lt") is not None else None
    )
    if lo is None and hi is None:
        return ""
    return f"{lo or '(-inf'}, {hi or 'inf)'}"


def problem(value: Any, meta: dict) -> str | None:
    """Why `value` breaks its field's rules, or None. None (null) passes where the field allows it
    (its type says so; Hydra checks types). Every number must be finite."""
    if value is None:
        return None
    if meta.get("choices") is not None and value not in meta["choices"]:
        return f"one of {', '.join(map(str, meta['choices']))}; got {value!r}"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    if not math.isfinite(value):
        return f"must be a finite number, got {value}"
    if isinstance(value, int) and abs(value) > INT_LIMIT:  # engines, seeds and torch take 32-bit integers
        return f"must be at most {INT_LIMIT:,} in size, got {value}"
    rules = {"ge": (lambda b: value >= b, ">="), "gt": (lambda b: value > b, ">"),
             "le": (lambda b: value <= b, "<="), "lt": (lambda b: value < b, "<")}
    bounds = [name for name in rules if meta.get(name) is not None]
    for name in bounds:
        ok, sign = rules[name]
        if not ok(meta[name]):
            rule = f"in {range_text(meta)}" if len(bounds) > 1 else f"{sign} {meta[name]:g}"
            return f"must be {rule}, got {value}"
    return None


def check(cfg) -> list[tuple[str, str]]:
    """(key, why) for every knob that breaks its own rules."""
    return [(key, why) for key, f, value in walk(cfg) if (why := problem(value, f.metadata)) is not None]


def describe(defaults, current=None, section_name: str | None = None) -> list[str]:
    """One block per knob: key, default (and the value `current` gives, where it differs),
    choices or range, source, help."""
    lines = []
    now = dict((k, v) for k, _, v in walk(current)) if current is not None else {}
    for key, f, value in walk(defaults):
        if section_name and not key.startswith(section_name + "."):
            continue
        meta = f.metadata
        shown = f"{key} = {value!r}"
        if key in now and now[key] != value:
            shown += f"  (this config: {now[key]!r})"
        rule = f"one of {', '.join(map(str, meta['choices']))}" if meta.get("choices") else range_text(meta)
        lines.append(shown + f"    [{meta.get('source', '?')}]" + (f"  {rule}" if rule else ""))
        lines.append(f"    {meta.get('help', '')}")
    return lines
