"""Metropolis-adjusted Langevin algorithm (MALA), batched chains.

Proposal ``x' = x - h grad E(x) + sqrt(2 h) xi``; accept with probability
``min(1, exp(-E(x') + E(x) - log q(x|x') + log q(x'|x)))``, ``q(b|a) = N(b; a - h grad E(a), 2h I)``.
Each step costs one evaluation of ``(E, grad E)`` per chain (at the proposal; the current state's
values are cached). The step size ``h`` is adapted per chain during burn-in towards ~0.57 acceptance.
"""

from __future__ import annotations

import torch
from torch import Tensor

from dxmi.baselines.common import CountedEnergy, MCMCResult, Thinning, initial_states
from dxmi.baselines.common import adapt as adapt_step
from dxmi.nets.mlp import check_shape
from dxmi.targets.base import Target


class MALAChains:
    """``B`` persistent MALA chains, advanced one step per :meth:`step`.

    The current states ``x (B, D)``, their energies and gradients are cached, so a step costs one
    ``(E, grad E)`` evaluation per chain; ``n_energy_evals`` counts them (the start's included).
    ``h (B, 1)`` are the per-chain step sizes; :meth:`step` with ``adapt=True`` moves each towards
    ``target_acceptance`` (then the chains are an adaptive search, not an exact MCMC kernel).
    ``beta (B,)`` (default 1): each chain's inverse temperature; chain ``b`` targets
    ``exp(-beta_b E(x))``. The cached ``energy`` and ``grad`` are the untempered ``E`` and ``grad E``,
    so states can be exchanged between chains of different temperatures without a new evaluation
    (:class:`~dxmi.baselines.tempering.ParallelTempering`).
    The target must stay fixed while the chains are used (the cached energies refer to it).
    """

    def __init__(self, target: Target, x0: Tensor, step_size: float = 0.01, target_acceptance: float = 0.574,
                 beta: Tensor | None = None):
        check_shape("MALA chains x0", x0, (None, target.dim))
        self.target = target
        self.energy_fn = CountedEnergy(target)
        self.target_acceptance = target_acceptance
        self.x = target.project(x0.detach().clone())
        self.energy, self.grad = self.energy_fn(self.x)
        self.h = torch.full((x0.shape[0], 1), float(step_size), device=x0.device)
        if beta is None:
            self.beta = torch.ones(x0.shape[0], 1, device=x0.device)
        else:
            check_shape("MALA chains beta", beta, (x0.shape[0],))
            if not bool((beta > 0).all()):
                raise ValueError(f"MALA chains: inverse temperatures must be > 0, got min {float(beta.min())}")
            self.beta = beta.detach().to(x0.device, x0.dtype)[:, None]

    @property
    def n_energy_evals(self) -> int:
        return self.energy_fn.count

    def step(self, generator: torch.Generator | None = None, adapt: bool = True) -> Tensor:
        """One MALA step of every chain; returns which chains accepted, ``(B,)`` bool."""
        x, e, g, h, b = self.x, self.energy, self.grad, self.h, self.beta
        noise = self.target.project(torch.randn(x.shape, generator=generator, device=x.device))
        prop = x - h * (b * g) + torch.sqrt(2 * h) * noise
        e_p, g_p = self.energy_fn(prop)
        log_q_fwd = -((prop - x + h * (b * g)) ** 2).sum(1) / (4 * h[:, 0])
        log_q_bwd = -((x - prop + h * (b * g_p)) ** 2).sum(1) / (4 * h[:, 0])
        log_a = b[:, 0] * (-e_p + e) + log_q_bwd - log_q_fwd
        u = torch.rand(x.shape[0], generator=generator, device=x.device)
        acc = (torch.log(u) < log_a) & torch.isfinite(e_p)
        self.x = torch.where(acc[:, None], prop, x)
        self.energy = torch.where(acc, e_p, e)
        self.grad = torch.where(acc[:, None], g_p, g)
        if adapt:
            a = torch.exp(log_a.clamp(max=0)).nan_to_num(0.0)
            self.h = adapt_step(h, a[:, None], self.target_acceptance)
        return acc

    def state_dict(self) -> dict[str, Tensor | int]:
        return {"x": self.x, "energy": self.energy, "grad": self.grad, "h": self.h, "beta": self.beta,
                "n_energy_evals": self.energy_fn.count}

    def load_state_dict(self, state: dict[str, Tensor | int]) -> None:
        """Restore chains saved by :meth:`state_dict` (same number of chains and dimension)."""
        x = state["x"]
        assert isinstance(x, Tensor)
        check_shape("MALA chains state x", x, tuple(self.x.shape))
        dev = self.x.device
        self.x, self.energy, self.grad, self.h = (torch.as_tensor(state[k]).to(dev)
                                                  for k in ("x", "energy", "grad", "h"))
        if "beta" in state:  # states saved before tempering existed hold no beta: all chains at 1
            self.beta = torch.as_tensor(state["beta"]).to(dev)
        self.energy_fn.count = int(state["n_energy_evals"])


def mala(target: Target, x0: Tensor, n_steps: int, step_size: float = 0.01,
         generator: torch.Generator | None = None, adapt_steps: int | None = None,
         target_acceptance: float = 0.574) -> MCMCResult:
    """Run ``B`` MALA chains from ``x0 (B, D)`` for ``n_steps``; returns the final states.

    ``adapt_steps`` (default half of ``n_steps``) steps adapt the per-chain step size.
    Energy evaluations: ``B * (n_steps + 1)``.
    """
    check_shape("mala x0", x0, (None, target.dim))
    chains = MALAChains(target, x0, step_size, target_acceptance)
    n_adapt = n_steps // 2 if adapt_steps is None else adapt_steps
    accepted = torch.zeros(x0.shape[0], device=x0.device)
    for i in range(n_steps):
        acc = chains.step(generator, adapt=i < n_adapt)
        if i >= n_adapt:
            accepted += acc.float()
    rate = float(accepted.mean() / max(1, n_steps - n_adapt))
    return MCMCResult(samples=chains.x, acceptance=rate, n_energy_evals=chains.n_energy_evals,
                      step_size=float(chains.h.mean()))


def mala_thinned(target: Target, x0: Tensor, n_steps: int, n_keep: int, step_size: float = 0.01,
                 generator: torch.Generator | None = None, target_acceptance: float = 0.574) -> MCMCResult:
    """Few long MALA chains instead of many short ones: run ``C`` chains from ``x0 (C, D)`` for
    ``n_steps`` (the first half adapts the step sizes and is discarded), and keep ``n_keep`` states
    ``(n_keep, D)`` thinned evenly from the second half of every chain (``ceil(n_keep / C)`` per
    chain). Energy evaluations: ``C * (n_steps + 1)``, as :func:`mala`.
    """
    check_shape("mala_thinned x0", x0, (None, target.dim))
    n_chains = x0.shape[0]
    plan = Thinning.plan(n_steps, n_keep, n_chains, "mala_thinned")
    n_burn = plan.n_burn
    chains = MALAChains(target, x0, step_size, target_acceptance)
    kept: list[Tensor] = []
    accepted = torch.zeros(n_chains, device=x0.device)
    for i in range(n_steps):
        acc = chains.step(generator, adapt=i < n_burn)
        if i >= n_burn:
            accepted += acc.float()
        if plan.keeps(i, len(kept)):
            kept.append(chains.x)
    rate = float(accepted.mean() / max(1, n_steps - n_burn))
    return MCMCResult(samples=torch.cat(kept)[:n_keep], acceptance=rate, n_energy_evals=chains.n_energy_evals,
                      step_size=float(chains.h.mean()))


class MALA:
    """MALA as a :class:`~dxmi.baselines.common.Sampler`: ``sample(n, generator)`` runs ``n`` chains for
    ``steps`` steps from ``init`` and returns their final states (:func:`mala`), or, with ``chains=C``,
    runs ``C`` long chains and keeps ``n`` states thinned from their second halves (:func:`mala_thinned`).

    ``init``: start states ``(B, D)`` (the first ``n``, or ``C``, rows are used) or a standard deviation
    ``s`` (starts ``s z``, ``z ~ N(0, I)``, drawn from the sample's generator before the chains run).
    ``adapt_steps`` (default half of ``steps``) adapt the step sizes; with ``chains`` the first half
    always adapts and is discarded.
    """

    def __init__(self, target: Target, steps: int, step_size: float = 0.01, init: Tensor | float = 1.0,
                 adapt_steps: int | None = None, target_acceptance: float = 0.574, chains: int | None = None):
        if steps < 1:
            raise ValueError(f"MALA: steps must be >= 1, got {steps}")
        if chains is not None and (chains < 1 or adapt_steps is not None):
            raise ValueError(f"MALA: chains must be >= 1 and takes no adapt_steps (the first half adapts), "
                             f"got chains={chains}, adapt_steps={adapt_steps}")
        self.target, self.steps, self.step_size, self.init = target, steps, step_size, init
        self.adapt_steps, self.target_acceptance, self.chains = adapt_steps, target_acceptance, chains

    def sample(self, n: int, generator: torch.Generator | None = None) -> MCMCResult:
        if self.chains is None:
            x0 = initial_states(self.target, self.init, n, generator, "MALA")
            return mala(self.target, x0, self.steps, self.step_size, generator, self.adapt_steps,
                        self.target_acceptance)
        x0 = initial_states(self.target, self.init, self.chains, generator, "MALA")
        return mala_thinned(self.target, x0, self.steps, n, self.step_size, generator, self.target_acceptance)
