"""Range checks of the settings dataclasses, shared by every config of the package.

:func:`check_ranges` is called from a config's ``__post_init__``. Besides the fields it is told about,
it applies two rules by name to every field: a learning rate (``lr`` or ``*_lr``) must be a finite
number >= 0 (0 freezes that part), and a gradient clip (``*grad_clip``, ``max_grad_norm``) must be
> 0 or None (off), and a ``seed`` must be an integer in [0, 2**32) (every generator of the package
takes it, offsets added). Messages start with the field's name (``sampler_lr must be >= 0, got -1.0``) so
that a loader can prefix the section (``train.algo.sampler_lr ...``). Values of the wrong type are
left to the loaders' type checks.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable
from typing import Any

__all__ = ["check_ranges"]


def _number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _is_lr(name: str) -> bool:
    return name == "lr" or name.endswith("_lr")


def _is_clip(name: str) -> bool:
    return name.endswith("grad_clip") or name == "max_grad_norm"


#: seeds are in [0, SEED_LIMIT): torch and numpy generators take them with the offsets the runs add
SEED_LIMIT = 2**32


def check_ranges(cfg: Any, *, positive: Iterable[str] = (), non_negative: Iterable[str] = (),
                 at_least_one: Iterable[str] = (), at_least_two: Iterable[str] = (), fraction: Iterable[str] = (),
                 below_one: Iterable[str] = ()) -> None:
    """Raise ``ValueError`` naming the first field of ``cfg`` out of its range.

    positive: > 0 (None allowed: off); non_negative: >= 0; at_least_one: >= 1; at_least_two: >= 2 (a count
    of points or levels that needs two); fraction: in [0, 1]; below_one: in [0, 1). Every named number must
    also be finite (no NaN or inf)."""
    rules: dict[str, tuple[str, Any]] = {}
    for f in dataclasses.fields(cfg):
        if _is_lr(f.name):
            rules[f.name] = (">= 0", lambda v: v >= 0)
        elif _is_clip(f.name):
            rules[f.name] = ("> 0 (or null: off)", lambda v: v > 0)
        elif f.name == "seed":
            rules[f.name] = ("in [0, 2**32)", lambda v: 0 <= v < SEED_LIMIT)
    for names, text, ok in ((positive, "> 0", lambda v: v > 0), (non_negative, ">= 0", lambda v: v >= 0),
                            (at_least_one, ">= 1", lambda v: v >= 1), (at_least_two, ">= 2", lambda v: v >= 2),
                            (fraction, "in [0, 1]", lambda v: 0 <= v <= 1),
                            (below_one, "in [0, 1)", lambda v: 0 <= v < 1)):
        for n in names:
            rules[n] = (text, ok)
    for name, (text, ok) in rules.items():
        v = getattr(cfg, name)
        if v is None or not _number(v):
            continue
        if isinstance(v, float) and not math.isfinite(v):
            raise ValueError(f"{name} must be a finite number {text}, got {v}")
        if not ok(v):
            raise ValueError(f"{name} must be {text}, got {v}")
