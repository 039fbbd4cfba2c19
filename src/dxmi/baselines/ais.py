"""Annealed importance sampling (Neal 2001) for log Z.

Intermediate densities ``pi_k(x) ∝ N(x; 0, s0^2 I)^{1 - beta_k} exp(-E(x))^{beta_k}``,
``0 = beta_0 < ... < beta_K = 1``; weights ``log w += (beta_k - beta_{k-1}) (-E(x) - log N(x; 0, s0^2))``
with one MALA transition per level (fixed step size). ``log Z ~ logsumexp(log w) - log N``; each level costs one
``(E, grad E)`` evaluation per particle (plus one at the start).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from dxmi.baselines.common import CountedEnergy, MCMCResult
from dxmi.targets.base import Target


@dataclass(frozen=True)
class AISResult(MCMCResult):
    """The particles (``samples``), the mean MALA acceptance over the levels, the energy evaluations,
    the (fixed) step size; the ``log Z`` estimate, the effective sample size fraction of the weights and
    the log weights ``log_w (n,)``."""

    log_z: float
    ess: float
    log_w: Tensor


def ais(target: Target, n: int, n_levels: int = 100, init_std: float = 3.0, step_size: float = 0.05,
        generator: torch.Generator | None = None, schedule: str = "sigmoid") -> AISResult:
    """``n`` AIS particles over ``n_levels`` annealing levels from ``N(0, init_std^2 I)`` to the target."""
    if n_levels < 1 or n < 1:
        raise ValueError(f"n and n_levels must be >= 1, got {n}, {n_levels}")
    d = target.effective_dim
    f = CountedEnergy(target)
    if schedule == "sigmoid":
        s = torch.sigmoid(torch.linspace(-6, 6, n_levels + 1, dtype=torch.float64))
        betas = ((s - s[0]) / (s[-1] - s[0])).float()
    else:
        betas = torch.linspace(0, 1, n_levels + 1)

    def log_prior(x: Tensor) -> Tensor:
        return -0.5 * (x * x).sum(1) / init_std**2 - d * (math.log(init_std) + 0.5 * math.log(2 * math.pi))

    x = init_std * target.project(torch.randn(n, target.dim, generator=generator))
    e, g = f(x)
    log_w = torch.zeros(n)
    accepted = torch.zeros(())
    for k in range(1, n_levels + 1):
        b0, b1 = float(betas[k - 1]), float(betas[k])
        log_w = log_w + (b1 - b0) * (-e - log_prior(x))
        # one MALA step targeting pi_k: U_k(x) = -(1 - b) log prior + b E
        def u_and_grad(y: Tensor, ey: Tensor, gy: Tensor, b: float = b1) -> tuple[Tensor, Tensor]:
            return (1 - b) * -log_prior(y) + b * ey, (1 - b) * y / init_std**2 + b * gy

        u, gu = u_and_grad(x, e, g)
        h = step_size
        noise = target.project(torch.randn(x.shape, generator=generator))
        prop = x - h * gu + math.sqrt(2 * h) * noise
        e_p, g_p = f(prop)
        u_p, gu_p = u_and_grad(prop, e_p, g_p)
        log_a = (u - u_p) - ((x - prop + h * gu_p) ** 2).sum(1) / (4 * h) + ((prop - x + h * gu) ** 2).sum(1) / (4 * h)
        acc = (torch.log(torch.rand(n, generator=generator)) < log_a) & torch.isfinite(e_p)
        accepted = accepted + acc.float().mean()
        x = torch.where(acc[:, None], prop, x)
        e = torch.where(acc, e_p, e)
        g = torch.where(acc[:, None], g_p, g)
    lw = log_w.nan_to_num(float("-inf"))
    log_z = float(torch.logsumexp(lw, 0) - math.log(n))
    w = (lw - lw.max()).exp()
    ess = float(w.sum() ** 2 / (n * (w * w).sum()))
    return AISResult(samples=x, acceptance=float(accepted) / n_levels, n_energy_evals=f.count,
                     step_size=float(step_size), log_z=log_z, ess=ess, log_w=lw)


class AIS:
    """AIS as a :class:`~dxmi.baselines.common.Sampler`: ``sample(n, generator)`` anneals ``n`` particles
    from ``N(0, init_std^2 I)`` to the target over ``levels`` levels (:func:`ais`); the result also holds
    ``log_z``, ``ess`` and the weights."""

    def __init__(self, target: Target, levels: int = 100, init_std: float = 3.0, step_size: float = 0.05,
                 schedule: str = "sigmoid"):
        if levels < 1:
            raise ValueError(f"AIS: levels must be >= 1, got {levels}")
        self.target, self.levels, self.init_std, self.step_size, self.schedule = (
            target, levels, init_std, step_size, schedule)

    def sample(self, n: int, generator: torch.Generator | None = None) -> AISResult:
        return ais(self.target, n, self.levels, self.init_std, self.step_size, generator, self.schedule)
