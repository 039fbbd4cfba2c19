"""Hamiltonian Monte Carlo, batched chains, leapfrog integrator, unit mass.

``H(x, p) = E(x) + ||p||^2 / 2``; ``L`` leapfrog steps of size ``eps`` then a Metropolis test on
``H``. Each leapfrog step costs one ``grad E`` evaluation per chain (the energy at the end point
comes with the last gradient), so one HMC iteration costs ``L`` evaluations. ``eps`` is adapted per
chain during burn-in towards ~0.65 acceptance.
"""

from __future__ import annotations

import torch
from torch import Tensor

from dxmi.baselines.common import CountedEnergy, MCMCResult, adapt, initial_states
from dxmi.nets.mlp import check_shape
from dxmi.targets.base import Target


def hmc(target: Target, x0: Tensor, n_iters: int, step_size: float = 0.05, n_leapfrog: int = 5,
        generator: torch.Generator | None = None, adapt_iters: int | None = None,
        target_acceptance: float = 0.65) -> MCMCResult:
    """Run ``B`` HMC chains from ``x0 (B, D)`` for ``n_iters`` iterations of ``n_leapfrog`` steps.

    Energy evaluations: ``B * (n_iters * n_leapfrog + 1)``.
    """
    check_shape("hmc x0", x0, (None, target.dim))
    if n_leapfrog < 1:
        raise ValueError(f"n_leapfrog must be >= 1, got {n_leapfrog}")
    f = CountedEnergy(target)
    x = target.project(x0.clone())
    e, g = f(x)
    eps = torch.full((x.shape[0], 1), float(step_size), device=x.device)
    n_adapt = n_iters // 2 if adapt_iters is None else adapt_iters
    accepted = torch.zeros(x.shape[0], device=x.device)
    for i in range(n_iters):
        p = target.project(torch.randn(x.shape, generator=generator, device=x.device))
        h0 = e + 0.5 * (p * p).sum(1)
        xn, pn, gn = x, p - 0.5 * eps * g, g
        en = e
        for k in range(n_leapfrog):
            xn = xn + eps * pn
            en, gn = f(xn)
            pn = pn - (eps if k < n_leapfrog - 1 else 0.5 * eps) * gn
        h1 = en + 0.5 * (pn * pn).sum(1)
        log_a = (h0 - h1).nan_to_num(float("-inf"))
        u = torch.rand(x.shape[0], generator=generator, device=x.device)
        acc = (torch.log(u) < log_a) & torch.isfinite(en)
        x = torch.where(acc[:, None], xn, x)
        e = torch.where(acc, en, e)
        g = torch.where(acc[:, None], gn, g)
        a = torch.exp(log_a.clamp(max=0))
        if i < n_adapt:
            eps = adapt(eps, a[:, None], target_acceptance)
        else:
            accepted += acc.float()
    rate = float(accepted.mean() / max(1, n_iters - n_adapt))
    return MCMCResult(samples=x, acceptance=rate, n_energy_evals=f.count, step_size=float(eps.mean()))


class HMC:
    """HMC as a :class:`~dxmi.baselines.common.Sampler`: ``sample(n, generator)`` runs ``n`` chains for
    ``iterations`` iterations of ``n_leapfrog`` leapfrog steps from ``init`` (:func:`hmc`).

    ``init``: start states ``(B, D)`` (the first ``n`` rows are used) or a standard deviation ``s``
    (starts ``s z``, ``z ~ N(0, I)``, drawn from the sample's generator before the chains run).
    """

    def __init__(self, target: Target, iterations: int, step_size: float = 0.05, n_leapfrog: int = 5,
                 init: Tensor | float = 1.0, adapt_iters: int | None = None, target_acceptance: float = 0.65):
        if iterations < 1 or n_leapfrog < 1:
            raise ValueError(f"HMC: iterations and n_leapfrog must be >= 1, got {iterations}, {n_leapfrog}")
        self.target, self.iterations, self.step_size, self.n_leapfrog = target, iterations, step_size, n_leapfrog
        self.init, self.adapt_iters, self.target_acceptance = init, adapt_iters, target_acceptance

    def sample(self, n: int, generator: torch.Generator | None = None) -> MCMCResult:
        x0 = initial_states(self.target, self.init, n, generator, "HMC")
        return hmc(self.target, x0, self.iterations, self.step_size, self.n_leapfrog, generator, self.adapt_iters,
                   self.target_acceptance)
