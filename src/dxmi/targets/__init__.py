"""Targets for samplers: ``E(x)`` known, no data. A registry maps names to factories.

``make_target(name, dim=None)`` accepts a registry name or a ``module:function`` string."""

from __future__ import annotations

from collections.abc import Callable

from dxmi.targets.base import CallableTarget, Target, from_callable, load_target, remove_com
from dxmi.targets.classic2d import Banana, RingU1, WaveU2, WaveU3, WaveU4
from dxmi.targets.particles import DW4, LJ13, ParticleTarget, pair_distances
from dxmi.targets.synthetic import GMM40, Funnel, GaussianMixture, GaussianTarget, GridGMM

TARGETS: dict[str, Callable[[], Target]] = {
    "gmm": GridGMM,
    "gmm25": lambda: GridGMM(n_side=5, spacing=5.0, var=0.3),
    "gmm40": GMM40,
    "funnel": Funnel,
    "dw4": DW4,
    "lj13": LJ13,
    "u1": RingU1,
    "u2": WaveU2,
    "u3": WaveU3,
    "u4": WaveU4,
    "banana": Banana,
}


def make_target(name: str, dim: int | None = None) -> Target:
    """A registered target by name, or a user energy ``module:function`` (``dim`` for plain functions)."""
    if ":" in name:
        return load_target(name, dim)
    if name not in TARGETS:
        raise ValueError(f"unknown target {name!r}; choose from {sorted(TARGETS)} or give module:function")
    return TARGETS[name]()


__all__ = [
    "DW4",
    "LJ13",
    "TARGETS",
    "Banana",
    "CallableTarget",
    "Funnel",
    "GMM40",
    "GaussianMixture",
    "GaussianTarget",
    "GridGMM",
    "ParticleTarget",
    "RingU1",
    "Target",
    "WaveU2",
    "WaveU3",
    "WaveU4",
    "from_callable",
    "load_target",
    "make_target",
    "pair_distances",
    "remove_com",
]
