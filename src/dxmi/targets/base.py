"""Targets: unnormalised densities p(x) proportional to exp(-E(x)) that a sampler must reach.

The interface users implement is small: a :class:`Target` is an :class:`~dxmi.energies.Energy`
(an ``nn.Module`` mapping ``x (B, D) -> E(x) (B,)``) with a ``dim``. Optional parts: ``sample``
(exact samples, used by the metrics), ``log_z`` (the true log-normaliser, for log Z checks),
``particles`` (for systems of interacting particles: ``(n_particles, spatial_dim)``, which switches
on centre-of-mass handling and the distance metrics) and ``plot_range`` (for 2D plots).

A plain batched callable becomes a target with :func:`from_callable`, and ``"module:function"``
strings (as typed on the command line) with :func:`load_target`.
"""

from __future__ import annotations

import importlib
import inspect
import math
from collections.abc import Callable

import torch
from torch import Tensor

from dxmi.energies.base import Energy


class Target(Energy):
    """An energy ``E: (B, D) -> (B,)`` on R^D; ``log_prob(x) = -E(x)`` (unnormalised).

    Subclasses implement :meth:`energy` (batched, differentiable) and may override
    :meth:`sample` and set ``log_z``.
    """

    #: log of the normaliser Z = int exp(-E(x)) dx when known, else None.
    log_z: float | None = None
    #: (n_particles, spatial_dim) for particle systems, else None.
    particles: tuple[int, int] | None = None
    #: square plotting window [-r, r]^2 for 2D targets.
    plot_range: float = 6.0

    def __init__(self, dim: int):
        if dim < 1:
            raise ValueError(f"target dimension must be >= 1, got {dim}")
        super().__init__((dim,))
        self.dim = dim

    @property
    def name(self) -> str:
        return type(self).__name__

    @property
    def effective_dim(self) -> int:
        """D in the running cost: ``dim``, or ``(n - 1) * d`` for particles (centre of mass removed)."""
        if self.particles is None:
            return self.dim
        n, d = self.particles
        return (n - 1) * d

    def log_prob(self, x: Tensor) -> Tensor:
        """Unnormalised log density ``-E(x)``, ``(B, D) -> (B,)``."""
        return -self(x)

    @property
    def has_exact_samples(self) -> bool:
        return type(self).sample is not Target.sample

    def sample(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """``n`` exact samples ``(n, D)``; targets without a sampler raise NotImplementedError."""
        raise NotImplementedError(f"{self.name} has no exact sampler")

    def project(self, x: Tensor) -> Tensor:
        """Map states onto the sampler's space: removes the centre of mass for particle systems."""
        if self.particles is None:
            return x
        return remove_com(x, self.particles)


def remove_com(x: Tensor, particles: tuple[int, int]) -> Tensor:
    """Subtract the centre of mass: ``x (B, n*d) -> (B, n*d)`` with ``sum_i x_i = 0``."""
    n, d = particles
    if x.shape[-1] != n * d:
        raise ValueError(f"remove_com: expected (B, {n * d}) for {n} particles in {d}D, received {tuple(x.shape)}")
    xs = x.reshape(*x.shape[:-1], n, d)
    return (xs - xs.mean(dim=-2, keepdim=True)).reshape(x.shape)


class CallableTarget(Target):
    """A target around a user's batched callable ``fn(x (B, D)) -> E (B,)``."""

    def __init__(self, fn: Callable[[Tensor], Tensor], dim: int, name: str | None = None):
        super().__init__(dim)
        self.fn = fn
        self._name: str = name or str(getattr(fn, "__name__", "callable"))

    @property
    def name(self) -> str:
        return self._name

    def energy(self, x: Tensor) -> Tensor:
        return self.fn(x)


def from_callable(fn: Callable[[Tensor], Tensor], dim: int, name: str | None = None) -> Target:
    """Wrap a batched energy function ``fn: (B, dim) -> (B,)`` (torch, differentiable) as a Target."""
    if not callable(fn):
        raise ValueError(f"from_callable: expected a callable, received {type(fn).__name__}")
    return CallableTarget(fn, dim, name)


def load_target(spec: str, dim: int | None = None) -> Target:
    """Load ``"module:attr"``: a Target subclass or instance, a factory returning one, or an energy
    callable ``fn(x (B, D)) -> (B,)`` (then ``dim`` is required)."""
    if ":" not in spec:
        raise ValueError(f"user target {spec!r} must look like module:function")
    mod_name, attr = spec.split(":", 1)
    try:
        module = importlib.import_module(mod_name)
    except ImportError as e:
        raise ValueError(f"cannot import module {mod_name!r} for target {spec!r}: {e}") from None
    if not hasattr(module, attr):
        raise ValueError(f"module {mod_name!r} has no attribute {attr!r}")
    obj = getattr(module, attr)
    if isinstance(obj, Target):
        return obj
    if inspect.isclass(obj) and issubclass(obj, Target):
        return obj(dim) if dim is not None else obj()  # type: ignore[call-arg]
    if not callable(obj):
        raise ValueError(f"{spec} is not callable")
    if dim is None:
        raise ValueError(f"target {spec} is a plain energy function: give its dimension with --dim")
    probe = obj(torch.zeros(2, dim))
    if not isinstance(probe, Tensor) or probe.shape != (2,):
        got = tuple(probe.shape) if isinstance(probe, Tensor) else type(probe).__name__
        raise ValueError(f"{spec}: energy of a (2, {dim}) batch must have shape (2,), received {got}")
    return from_callable(obj, dim, name=spec)


def log_normal(x: Tensor, mean: Tensor, std: Tensor | float) -> Tensor:
    """Sum over the last axis of log N(x; mean, std^2)."""
    std_t = torch.as_tensor(std, dtype=x.dtype, device=x.device)
    z = (x - mean) / std_t
    return (-0.5 * z * z - torch.log(std_t) - 0.5 * math.log(2 * math.pi)).sum(-1)
