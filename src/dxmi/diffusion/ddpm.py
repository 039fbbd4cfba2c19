"""Epsilon-prediction diffusion (Ho et al. 2020) and its samplers.

Training: x_k = sqrt(alpha_bar_k) x + sqrt(1 - alpha_bar_k) eps, k ~ U{0..N-1},
loss = || eps - eps_theta(x_k, k) ||^2 (mean over dimensions and batch).

Ancestral sampling runs k = N-1 .. 0 with the posterior
x_{k-1} = (x_k - beta_k / sqrt(1 - alpha_bar_k) eps_theta) / sqrt(alpha_k) + sqrt(beta~_k) z,
beta~_k = beta_k (1 - alpha_bar_{k-1}) / (1 - alpha_bar_k).

DDIM (eta = 0) on indices k_1 > ... > k_S: x0_hat = (x - sqrt(1 - ab) eps) / sqrt(ab),
x <- sqrt(ab') x0_hat + sqrt(1 - ab') eps, with ab' = 1 after the last index.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from dxmi.nets.conditioning import call, num_classes
from dxmi.schedules.discrete import DiscreteSchedule


class EpsilonModel(nn.Module):
    """``eps_net(x (B, *S), k (B,) float[, y (B,) long]) -> (B, *S)`` with its schedule; labels y
    reach a class-conditional network (``eps_net.num_classes > 0``)."""

    alpha_bar: Tensor
    betas: Tensor

    def __init__(self, eps_net: nn.Module, schedule: DiscreteSchedule, sample_shape: Sequence[int]):
        super().__init__()
        self.eps_net = eps_net
        self.schedule = schedule
        self.sample_shape = tuple(int(s) for s in sample_shape)
        self.register_buffer("alpha_bar", schedule.alpha_bar.float())
        self.register_buffer("betas", schedule.betas.float())

    def _bcast(self, v: Tensor) -> Tensor:
        return v.view(-1, *([1] * len(self.sample_shape)))

    @property
    def num_classes(self) -> int:
        return num_classes(self.eps_net)

    def loss(self, x: Tensor, generator: torch.Generator | None = None, y: Tensor | None = None) -> Tensor:
        """The simple loss mean ||eps - eps_theta(sqrt(ab_k) x + sqrt(1 - ab_k) eps, k[, y])||^2."""
        if tuple(x.shape[1:]) != self.sample_shape:
            raise ValueError(f"EpsilonModel.loss: expected data (B, {self.sample_shape}), received {tuple(x.shape)}")
        n = x.shape[0]
        k = torch.randint(0, self.schedule.num_steps, (n,), generator=generator, device=x.device)
        eps = torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
        ab = self._bcast(self.alpha_bar[k])
        xk = ab.sqrt() * x + (1 - ab).sqrt() * eps
        return ((call(self.eps_net, xk, k.float(), y=y) - eps) ** 2).mean()

    @torch.no_grad()
    def sample_ancestral(self, n: int, generator: torch.Generator | None = None, y: Tensor | None = None) -> Tensor:
        """The full N-step DDPM sampler (N network evaluations); labels y (n,) for a class-conditional net."""
        dev = self.alpha_bar.device
        x = torch.randn((n, *self.sample_shape), generator=generator, device=dev)
        for k in range(self.schedule.num_steps - 1, -1, -1):
            kk = torch.full((n,), float(k), device=dev)
            beta, ab = self.betas[k], self.alpha_bar[k]
            ab_prev = self.alpha_bar[k - 1] if k > 0 else torch.ones((), device=dev)
            eps = call(self.eps_net, x, kk, y=y)
            x = (x - beta / (1 - ab).sqrt() * eps) / (1 - beta).sqrt()
            if k > 0:
                var = beta * (1 - ab_prev) / (1 - ab)
                x = x + var.sqrt() * torch.randn(x.shape, generator=generator, device=dev)
        return x

    def ddim_indices(self, num_steps: int) -> list[int]:
        """Evenly spaced indices from N-1 down to 0 (``num_steps`` of them)."""
        n = self.schedule.num_steps
        if num_steps < 1 or num_steps > n:
            raise ValueError(f"DDIM step count must be in 1..{n}, got {num_steps}")
        return sorted({round(i * (n - 1) / max(num_steps - 1, 1)) for i in range(num_steps)},
                      reverse=True) if num_steps > 1 else [n - 1]

    @torch.no_grad()
    def sample_ddim(self, n: int, num_steps: int, generator: torch.Generator | None = None,
                    y: Tensor | None = None) -> Tensor:
        dev = self.alpha_bar.device
        x = torch.randn((n, *self.sample_shape), generator=generator, device=dev)
        idx = self.ddim_indices(num_steps)
        for i, k in enumerate(idx):
            ab = self.alpha_bar[k]
            ab_next = self.alpha_bar[idx[i + 1]] if i + 1 < len(idx) else torch.ones((), device=dev)
            eps = call(self.eps_net, x, torch.full((n,), float(k), device=dev), y=y)
            x0 = (x - (1 - ab).sqrt() * eps) / ab.sqrt()
            x = ab_next.sqrt() * x0 + (1 - ab_next).sqrt() * eps
        return x
