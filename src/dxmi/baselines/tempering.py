"""Parallel tempering (replica exchange) with MALA moves: the MCMC a user runs on a multimodal target.

``C`` independent ladders of ``K`` replicas. Replica ``k`` of a ladder targets the tempered density
``pi_k(x) ∝ exp(-beta_k E(x))`` with a geometric ladder ``beta_k = t_max^(-k / (K - 1))``, so
``beta_0 = 1`` (the target) and ``beta_{K-1} = 1 / t_max``. A sweep is one MALA step of every replica
(:class:`~dxmi.baselines.mala.MALAChains` with per-chain ``beta``), then swap proposals between
neighbouring levels ``(k, k + 1)`` of each ladder, accepted with probability

    min(1, exp((beta_k - beta_{k+1}) (E(x_k) - E(x_{k+1})))),

which leaves the product ``prod_k pi_k`` invariant. Even pairs ``(0, 1), (2, 3), ...`` are proposed on
even sweeps and odd pairs on odd sweeps (the deterministic even-odd scheme of Okabe et al. 2001,
whose round trips are faster than random pair choice). A swap reuses the cached energies, so a
sweep costs ``C K`` evaluations of ``(E, grad E)``; ``sample`` spends ``C K (steps + 1)``.

The first half of the sweeps adapts each replica's step size towards the MALA acceptance target and
is discarded; the samples are the ``beta = 1`` replicas' states, thinned evenly from the second half
(``ceil(n / C)`` per ladder), as :func:`~dxmi.baselines.mala.mala_thinned` does for plain chains.
With ``K = 1`` this is exactly ``C`` long MALA chains.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from dxmi.baselines.common import MCMCResult, Thinning, initial_states
from dxmi.baselines.mala import MALAChains
from dxmi.targets.base import Target


@dataclass(frozen=True)
class TemperingResult(MCMCResult):
    """The ``beta = 1`` states (``samples``), their MALA acceptance, the energy evaluations of all
    replicas, the mean step size of the ``beta = 1`` replicas; the ladder ``betas (K,)`` and the swap
    acceptance rate of each neighbouring pair ``swap_acceptance (K - 1,)`` after burn-in."""

    betas: tuple[float, ...]
    swap_acceptance: tuple[float, ...]


def geometric_ladder(levels: int, t_max: float) -> Tensor:
    """Inverse temperatures ``beta_k = t_max^(-k / (K - 1))``, ``k = 0 .. K - 1`` (``(1,)``: ``[1]``)."""
    if levels < 1:
        raise ValueError(f"parallel tempering: levels must be >= 1, got {levels}")
    if not t_max >= 1.0:
        raise ValueError(f"parallel tempering: t_max must be >= 1 (the hottest temperature), got {t_max}")
    if levels == 1:
        return torch.ones(1)
    k = torch.arange(levels, dtype=torch.float64)
    return (t_max ** (-k / (levels - 1))).float()


def swap_neighbours(chains: MALAChains, ladders: int, levels: int, parity: int,
                    generator: torch.Generator | None = None) -> Tensor:
    """Propose exchanging the states of levels ``(k, k + 1)`` for every ``k`` of the given parity, in
    every ladder; rows of ``chains`` are level-major (row ``k * ladders + c``). Returns the accepted
    flags ``(levels - 1, ladders)`` (pairs of the other parity: False)."""
    accepted = torch.zeros(max(levels - 1, 0), ladders, dtype=torch.bool, device=chains.x.device)
    pairs = list(range(parity, levels - 1, 2))
    if not pairs:
        return accepted
    beta = chains.beta[:, 0].reshape(levels, ladders)
    energy = chains.energy.reshape(levels, ladders)
    lo = torch.tensor(pairs, device=chains.x.device)
    log_a = (beta[lo] - beta[lo + 1]) * (energy[lo] - energy[lo + 1])
    log_a = torch.nan_to_num(log_a, nan=float("-inf"))  # both states at infinite energy: no swap
    u = torch.rand(log_a.shape, generator=generator, device=chains.x.device)
    acc = torch.log(u) < log_a
    accepted[lo] = acc
    perm = torch.arange(levels * ladders, device=chains.x.device).reshape(levels, ladders)
    upper = perm[lo + 1].clone()
    lower = perm[lo].clone()
    perm[lo] = torch.where(acc, upper, lower)
    perm[lo + 1] = torch.where(acc, lower, upper)
    perm = perm.reshape(-1)
    chains.x, chains.energy, chains.grad = chains.x[perm], chains.energy[perm], chains.grad[perm]
    return accepted


def parallel_tempering(target: Target, x0: Tensor, n_steps: int, n_keep: int, levels: int = 4, t_max: float = 10.0,
                       step_size: float = 0.01, generator: torch.Generator | None = None,
                       target_acceptance: float = 0.574) -> TemperingResult:
    """Run ``C`` ladders of ``levels`` replicas from ``x0 (C * levels, D)`` (level-major rows: the first
    ``C`` rows start the ``beta = 1`` replicas) for ``n_steps`` sweeps; keep ``n_keep`` states
    ``(n_keep, D)`` of the ``beta = 1`` replicas, thinned from the second half. Energy evaluations:
    ``C * levels * (n_steps + 1)``."""
    if x0.dim() != 2 or x0.shape[0] % levels:
        raise ValueError(f"parallel tempering: x0 must be (C * {levels}, D) start states, got {tuple(x0.shape)}")
    ladders = x0.shape[0] // levels
    plan = Thinning.plan(n_steps, n_keep, ladders, "parallel tempering (steps are sweeps, chains are ladders)")
    n_burn = plan.n_burn
    betas = geometric_ladder(levels, t_max)
    chains = MALAChains(target, x0, step_size, target_acceptance, beta=betas.repeat_interleave(ladders))
    kept: list[Tensor] = []
    accepted = torch.zeros(ladders, device=x0.device)
    swaps = torch.zeros(max(levels - 1, 0), device=x0.device)
    proposed = torch.zeros(max(levels - 1, 0), device=x0.device)
    for i in range(n_steps):
        acc = chains.step(generator, adapt=i < n_burn)[:ladders]
        parity = i % 2
        sw = swap_neighbours(chains, ladders, levels, parity, generator)
        if i >= n_burn:
            accepted += acc.float()
            swaps += sw.float().sum(1)
            proposed[parity::2] += ladders
        if plan.keeps(i, len(kept)):
            kept.append(chains.x[:ladders])
    rate = float(accepted.mean() / max(1, n_steps - n_burn))
    swap_rate = tuple(float(s / p) if p > 0 else float("nan") for s, p in zip(swaps, proposed, strict=True))
    return TemperingResult(samples=torch.cat(kept)[:n_keep], acceptance=rate, n_energy_evals=chains.n_energy_evals,
                           step_size=float(chains.h[:ladders].mean()), betas=tuple(betas.tolist()),
                           swap_acceptance=swap_rate)


class ParallelTempering:
    """Parallel tempering as a :class:`~dxmi.baselines.common.Sampler`: ``sample(n, generator)`` runs
    ``chains`` ladders of ``levels`` MALA replicas (temperatures geometric from 1 to ``t_max``) for
    ``steps`` sweeps and keeps ``n`` states of the ``beta = 1`` replicas (:func:`parallel_tempering`).

    ``init``: start states ``(B, D)`` with ``B >= chains * levels`` (the first ``chains * levels`` rows,
    level-major) or a standard deviation ``s`` (starts ``s z``, ``z ~ N(0, I)``, drawn from the sample's
    generator before the chains run). A budget of ``N`` energy evaluations buys
    ``steps = N // (chains * levels) - 1`` sweeps.
    """

    def __init__(self, target: Target, steps: int, chains: int = 16, levels: int = 4, t_max: float = 10.0,
                 step_size: float = 0.01, init: Tensor | float = 1.0, target_acceptance: float = 0.574):
        if steps < 1 or chains < 1:
            raise ValueError(f"ParallelTempering: steps and chains must be >= 1, got {steps}, {chains}")
        geometric_ladder(levels, t_max)  # validates levels and t_max
        self.target, self.steps, self.chains, self.levels, self.t_max = target, steps, chains, levels, t_max
        self.step_size, self.init, self.target_acceptance = step_size, init, target_acceptance

    def sample(self, n: int, generator: torch.Generator | None = None) -> TemperingResult:
        x0 = initial_states(self.target, self.init, self.chains * self.levels, generator, "ParallelTempering")
        return parallel_tempering(self.target, x0, self.steps, n, self.levels, self.t_max, self.step_size, generator,
                                  self.target_acceptance)
