"""Shared parts of the MCMC / AIS baselines: counted energy-and-gradient evaluation, results, and the
one interface every baseline offers (:class:`Sampler`).

Each baseline is configured at construction and draws with ``sample(n, generator)``::

    for sampler in (MALA(target, steps=200, step_size=0.05, init=x0), HMC(target, iterations=40, init=x0),
                    AIS(target, levels=200)):
        res = sampler.sample(2000, torch.Generator().manual_seed(0))   # res.samples, res.n_energy_evals

The function forms (:func:`~dxmi.baselines.mala.mala`, :func:`~dxmi.baselines.hmc.hmc`,
:func:`~dxmi.baselines.ais.ais`) remain; a class draws exactly what its function draws with the same
start states and generator.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import torch
from torch import Tensor

from dxmi.targets.base import Target


class CountedEnergy:
    """``E`` and ``grad E`` of a target, counting evaluations: one per state per call
    (an energy and its gradient computed together count once)."""

    def __init__(self, target: Target):
        self.target = target
        self.count = 0

    def __call__(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """``x (B, D) -> (E (B,), grad E (B, D))``; non-finite energies become +inf, gradients 0."""
        with torch.enable_grad():
            y = x.detach().requires_grad_(True)
            e = self.target(y)
            (g,) = torch.autograd.grad(e.sum(), y)
        self.count += x.shape[0]
        bad = ~torch.isfinite(e)
        if bool(bad.any()):
            e = torch.where(bad, torch.full_like(e, float("inf")), e)
            g = torch.where(bad[:, None], torch.zeros_like(g), g)
        return e.detach(), self.target.project(g.detach())


@dataclass(frozen=True)
class MCMCResult:
    """Chains' final states ``samples (B, D)``, mean acceptance rate, energy evaluations spent,
    the final step size (after adaptation)."""

    samples: Tensor
    acceptance: float
    n_energy_evals: int
    step_size: float


@runtime_checkable
class Sampler(Protocol):
    """An MCMC / AIS baseline with its target and settings fixed at construction."""

    def sample(self, n: int, generator: torch.Generator | None = None) -> MCMCResult:
        """``n`` states ``(n, D)`` and the energy evaluations spent drawing them."""
        ...


def initial_states(target: Target, init: Tensor | float, n: int, generator: torch.Generator | None,
                   what: str = "sampler") -> Tensor:
    """Start states ``(n, D)``: the first ``n`` rows of a tensor ``init (B, D)``, or, for a number,
    ``init * z`` with ``z ~ N(0, I)`` (projected onto the target's subspace) drawn from ``generator``."""
    if isinstance(init, Tensor):
        if init.dim() != 2 or init.shape[1] != target.dim:
            raise ValueError(f"{what}: init must be (B, {target.dim}) start states, got shape {tuple(init.shape)}")
        if init.shape[0] < n:
            raise ValueError(f"{what}: {n} chains need {n} start states, init has {init.shape[0]}")
        return init[:n]
    if not float(init) > 0:
        raise ValueError(f"{what}: init must be start states or a positive standard deviation, got {init!r}")
    return float(init) * target.project(torch.randn(n, target.dim, generator=generator))


def adapt(step: Tensor, acc: Tensor, target_acc: float, rate: float = 0.05) -> Tensor:
    """Per-chain Robbins-Monro style step-size adaptation in log space towards ``target_acc``."""
    return step * torch.exp(rate * (acc - target_acc))


@dataclass(frozen=True)
class Thinning:
    """Which steps of ``C`` chains run for ``n_steps`` give the kept states: the first half (``n_burn``)
    adapts and is discarded; from the second half ``per_chain = ceil(n_keep / C)`` states of every chain,
    one each ``every`` steps."""

    n_burn: int
    per_chain: int
    every: int

    @classmethod
    def plan(cls, n_steps: int, n_keep: int, n_chains: int, what: str) -> Thinning:
        per_chain = -(-n_keep // n_chains)
        n_burn = n_steps // 2
        if n_steps - n_burn < per_chain:
            raise ValueError(f"{what}: {n_steps - n_burn} kept steps per chain cannot give {per_chain} states each "
                             f"(n_keep={n_keep}, {n_chains} chains): run more steps or more chains")
        return cls(n_burn, per_chain, (n_steps - n_burn) // per_chain)

    def keeps(self, i: int, n_kept: int) -> bool:
        """Whether the states after step ``i`` (0-based) are kept, ``n_kept`` rounds being kept already."""
        return i >= self.n_burn and (i - self.n_burn + 1) % self.every == 0 and n_kept < self.per_chain
