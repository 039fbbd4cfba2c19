"""Discrete N-step forward diffusion schedules.

Forward process (DDPM): q(x_k | x_{k-1}) = N(sqrt(1 - beta_k) x_{k-1}, beta_k I), k = 0..N-1, so
q(x_k | x_data) = N(sqrt(alpha_bar_k) x_data, (1 - alpha_bar_k) I) with
alpha_bar_k = prod_{j <= k} (1 - beta_j).  Index k here is the *diffusion* time of the base model
(k = 0 is nearly clean); it is a different axis from the sampler's step index t.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor


class DiscreteSchedule:
    """A schedule is its coefficient tables (float64, CPU).

    Subclasses set ``betas``; everything else is derived here.
    """

    betas: Tensor

    def __init__(self, betas: Tensor) -> None:
        betas = torch.as_tensor(betas, dtype=torch.float64)
        if betas.ndim != 1 or len(betas) < 2:
            raise ValueError(f"betas must be a 1-D table of length >= 2, got shape {tuple(betas.shape)}")
        if not bool(((betas > 0) & (betas < 1)).all()):
            raise ValueError("betas must lie in (0, 1)")
        self.betas = betas
        self.alphas = 1.0 - betas
        self.alpha_bar = torch.cumprod(self.alphas, dim=0)

    @property
    def num_steps(self) -> int:
        return len(self.betas)

    def log_alpha_bar_continuous(self, k: Tensor) -> Tensor:
        """log alpha_bar at a continuous index ``k`` in [0, N-1] (float64).

        The default interpolates log alpha_bar linearly between integer indices; schedules with a
        closed form override it.
        """
        k = torch.as_tensor(k, dtype=torch.float64)
        log_ab = torch.log(self.alpha_bar)
        k = k.clamp(0, self.num_steps - 1)
        lo = k.floor().long().clamp(max=self.num_steps - 2)
        w = k - lo.to(torch.float64)
        return (1 - w) * log_ab[lo] + w * log_ab[lo + 1]

    def continuous_index(self, alpha_bar: Tensor, iters: int = 200) -> Tensor:
        """Invert :meth:`log_alpha_bar_continuous` by bisection (float64): find k with
        alpha_bar(k) = ``alpha_bar``. Values outside the table's range are clamped to its ends."""
        target = torch.log(torch.as_tensor(alpha_bar, dtype=torch.float64))
        lo = torch.zeros_like(target)
        hi = torch.full_like(target, float(self.num_steps - 1))
        for _ in range(iters):
            mid = 0.5 * (lo + hi)
            # log alpha_bar decreases in k: too high a value means mid is too small.
            too_small = self.log_alpha_bar_continuous(mid) > target
            lo = torch.where(too_small, mid, lo)
            hi = torch.where(too_small, hi, mid)
        return 0.5 * (lo + hi)


class LinearBetaSchedule(DiscreteSchedule):
    """DDPM's linear betas, beta_k = beta_0 + k (beta_{N-1} - beta_0) / (N - 1).

    The product alpha_bar has a closed-form continuation in k: with d = (beta_end - beta_0)/(N-1)
    and c = (1 - beta_0)/d, prod_{j=0}^{k} (1 - beta_0 - j d) = d^{k+1} Gamma(c + 1) / Gamma(c - k),
    which is what :meth:`log_alpha_bar_continuous` evaluates (it agrees with the table at integers).
    """

    def __init__(self, num_steps: int = 1000, beta_start: float = 1e-4, beta_end: float = 0.02):
        super().__init__(torch.linspace(beta_start, beta_end, num_steps, dtype=torch.float64))
        self.beta_start = beta_start
        self.beta_end = beta_end

    def log_alpha_bar_continuous(self, k: Tensor) -> Tensor:
        k = torch.as_tensor(k, dtype=torch.float64)
        d = (self.beta_end - self.beta_start) / (self.num_steps - 1)
        c = (1.0 - self.beta_start) / d
        return (k + 1) * math.log(d) + math.lgamma(c + 1) - torch.lgamma(c - k)


class CosineSchedule(DiscreteSchedule):
    """Nichol & Dhariwal's cosine schedule: alpha_bar(k) = f(k) / f(0),
    f(k) = cos^2(((k + 1)/N + s) / (1 + s) * pi / 2), betas clipped to 0.999."""

    def __init__(self, num_steps: int = 1000, s: float = 0.008):
        k = torch.arange(num_steps + 1, dtype=torch.float64)
        f = torch.cos(((k / num_steps) + s) / (1 + s) * math.pi / 2) ** 2
        ab = f / f[0]
        betas = (1 - ab[1:] / ab[:-1]).clamp(1e-8, 0.999)
        super().__init__(betas)
