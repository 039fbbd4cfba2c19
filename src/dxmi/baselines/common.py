"""Shared parts of the MCMC / AIS baselines: counted energy-and-gradient evaluation, results."""

from __future__ import annotations

from dataclasses import dataclass

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


def adapt(step: Tensor, acc: Tensor, target_acc: float, rate: float = 0.05) -> Tensor:
    """Per-chain Robbins-Monro style step-size adaptation in log space towards ``target_acc``."""
    return step * torch.exp(rate * (acc - target_acc))
