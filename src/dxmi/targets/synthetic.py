"""Synthetic targets with exact samples: Gaussian mixtures, Neal's funnel, a Gaussian."""

from __future__ import annotations

import math

import torch
from torch import Tensor

from dxmi.targets.base import Target, log_normal


class GaussianMixture(Target):
    """Isotropic Gaussian mixture ``p(x) = sum_k w_k N(x; m_k, std^2 I)``, normalised (log Z = 0).

    ``E(x) = -logsumexp_k [log w_k + log N(x; m_k, std^2 I)]``. ``means``: ``(K, D)``.
    """

    log_z = 0.0
    means: Tensor
    log_w: Tensor

    def __init__(self, means: Tensor, std: float, weights: Tensor | None = None):
        means = torch.as_tensor(means, dtype=torch.float32)
        if means.ndim != 2:
            raise ValueError(f"GaussianMixture: means must be (K, D), received {tuple(means.shape)}")
        super().__init__(means.shape[1])
        k = means.shape[0]
        w = torch.full((k,), 1.0 / k) if weights is None else torch.as_tensor(weights, dtype=torch.float32)
        if w.shape != (k,) or bool((w <= 0).any()):
            raise ValueError(f"GaussianMixture: weights must be ({k},) and positive, received {tuple(w.shape)}")
        self.register_buffer("means", means)
        self.register_buffer("log_w", torch.log(w / w.sum()))
        self.std_value = float(std)
        self.plot_range = float(means.abs().max()) + 3 * self.std_value + 1.0

    def energy(self, x: Tensor) -> Tensor:
        comp = log_normal(x[:, None, :], self.means[None], self.std_value)  # (B, K)
        return -torch.logsumexp(comp + self.log_w, dim=1)

    def sample(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        idx = torch.multinomial(self.log_w.exp().cpu(), n, replacement=True, generator=generator)
        eps = torch.randn(n, self.dim, generator=generator)
        return (self.means.cpu()[idx] + self.std_value * eps).to(self.means.device)


class GridGMM(GaussianMixture):
    """The paper's "grid" GMM: 9 equal modes on {-5, 0, 5}^2, std sqrt(0.3) (``n_side=3``);
    ``n_side=5, spacing=5`` gives the 25-mode grid on {-10..10}^2."""

    def __init__(self, n_side: int = 3, spacing: float = 5.0, var: float = 0.3):
        ticks = (torch.arange(n_side, dtype=torch.float32) - (n_side - 1) / 2) * spacing
        means = torch.cartesian_prod(ticks, ticks)
        super().__init__(means, math.sqrt(var))


class GMM40(GaussianMixture):
    """The FAB 40-mode mixture in 2D: means uniform in [-40, 40]^2 (seeded), unit variance."""

    def __init__(self, seed: int = 0, n_modes: int = 40, loc_scale: float = 40.0):
        g = torch.Generator().manual_seed(seed)
        means = (torch.rand(n_modes, 2, generator=g) * 2 - 1) * loc_scale
        super().__init__(means, 1.0)


class Funnel(Target):
    """Neal's funnel in D dims: ``x_0 ~ N(0, 3^2)``, ``x_i | x_0 ~ N(0, exp(x_0))`` for i >= 1.

    ``E(x) = -log N(x_0; 0, 9) - sum_{i>=1} log N(x_i; 0, exp(x_0))``; normalised (log Z = 0).
    """

    log_z = 0.0
    plot_range = 10.0

    def __init__(self, dim: int = 10, scale0: float = 3.0):
        if dim < 2:
            raise ValueError(f"Funnel needs dim >= 2, got {dim}")
        super().__init__(dim)
        self.scale0 = scale0

    def energy(self, x: Tensor) -> Tensor:
        x0 = x[:, :1]
        lp0 = log_normal(x0, torch.zeros_like(x0), self.scale0)
        lp_rest = log_normal(x[:, 1:], torch.zeros_like(x[:, 1:]), torch.exp(0.5 * x0))
        return -(lp0 + lp_rest)

    def sample(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        x0 = self.scale0 * torch.randn(n, 1, generator=generator)
        rest = torch.randn(n, self.dim - 1, generator=generator) * torch.exp(0.5 * x0)
        return torch.cat([x0, rest], dim=1)


class GaussianTarget(Target):
    """``N(mean, diag(std^2))``: ``E(x) = sum_d (x_d - mean_d)^2 / (2 std_d^2)`` (unnormalised, so
    ``log Z = sum_d (1/2) log(2 pi std_d^2)``). ``std``: a float or ``(D,)``. The closed-form case of the tests."""

    mean: Tensor
    std: Tensor

    def __init__(self, mean: Tensor, std: float | Tensor):
        mean = torch.as_tensor(mean, dtype=torch.float32)
        super().__init__(mean.shape[0])
        std_t = torch.as_tensor(std, dtype=torch.float32).expand(self.dim).clone()
        self.register_buffer("mean", mean)
        self.register_buffer("std", std_t)
        self.log_z = float(0.5 * torch.log(2 * math.pi * std_t**2).sum())

    def energy(self, x: Tensor) -> Tensor:
        return (((x - self.mean) / self.std) ** 2).sum(-1) / 2

    def sample(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        return self.mean.cpu() + self.std.cpu() * torch.randn(n, self.dim, generator=generator)
