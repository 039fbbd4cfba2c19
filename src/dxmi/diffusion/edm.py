"""EDM denoiser (Karras et al. 2022): preconditioning, training loss and Euler-ancestral sampling.

    D(x; sigma) = c_skip(sigma) x + c_out(sigma) F(c_in(sigma) x, c_noise(sigma)),
    c_skip = sd^2 / (sigma^2 + sd^2),  c_out = sigma sd / sqrt(sigma^2 + sd^2),
    c_in = 1 / sqrt(sigma^2 + sd^2),   c_noise = noise_scale * log(sigma),

with sd = sigma_data (0.5). ``noise_scale`` is 0.25 in EDM's own networks and 250 in the
consistency-models UNets (``1000 * 0.25``).

Training (EDM): ln sigma ~ N(P_mean, P_std^2), loss = lambda(sigma) ||D(x + sigma n; sigma) - x||^2 with
lambda = (sigma^2 + sd^2) / (sigma sd)^2, i.e. unit-weight regression of F onto its effective target.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from dxmi.nets.conditioning import call, num_classes
from dxmi.schedules.karras import KarrasSchedule


class EDMDenoiser(nn.Module):
    """``net(x_in (B, *S), c_noise (B,) float[, y]) -> (B, *S)`` wrapped with EDM preconditioning
    (labels y reach a class-conditional net)."""

    def __init__(self, net: nn.Module, sample_shape: Sequence[int], sigma_data: float = 0.5,
                 noise_scale: float = 0.25, p_mean: float = -1.2, p_std: float = 1.2,
                 sigma_min: float = 0.002, sigma_max: float = 80.0):
        super().__init__()
        self.net = net
        self.sample_shape = tuple(int(s) for s in sample_shape)
        self.sigma_data = sigma_data
        self.noise_scale = noise_scale
        self.p_mean, self.p_std = p_mean, p_std
        self.sigma_min, self.sigma_max = sigma_min, sigma_max

    def _bcast(self, v: Tensor) -> Tensor:
        return v.view(-1, *([1] * len(self.sample_shape)))

    def coefficients(self, sigma: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """(c_skip, c_out, c_in, c_noise) at ``sigma`` (B,)."""
        sd = self.sigma_data
        denom = (sigma**2 + sd**2).sqrt()
        return sd**2 / denom**2, sigma * sd / denom, 1 / denom, self.noise_scale * sigma.log()

    @property
    def num_classes(self) -> int:
        return num_classes(self.net)

    def forward(self, x: Tensor, sigma: Tensor, y: Tensor | None = None) -> Tensor:
        """D(x; sigma[, y]): x (B, *S), sigma (B,) > 0, y (B,) long or None."""
        if tuple(x.shape[1:]) != self.sample_shape or sigma.shape != (x.shape[0],):
            raise ValueError(f"EDMDenoiser: expected x (B, {self.sample_shape}) and sigma (B,), "
                             f"received {tuple(x.shape)} and {tuple(sigma.shape)}")
        c_skip, c_out, c_in, c_noise = self.coefficients(sigma.to(x.dtype))
        return self._bcast(c_skip) * x + self._bcast(c_out) * call(self.net, self._bcast(c_in) * x, c_noise, y=y)

    def loss(self, x: Tensor, generator: torch.Generator | None = None, y: Tensor | None = None) -> Tensor:
        if tuple(x.shape[1:]) != self.sample_shape:
            raise ValueError(f"EDMDenoiser.loss: expected data (B, {self.sample_shape}), received {tuple(x.shape)}")
        n = x.shape[0]
        ln_sigma = self.p_mean + self.p_std * torch.randn(n, generator=generator, device=x.device)
        sigma = ln_sigma.exp()
        noise = torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
        sd = self.sigma_data
        weight = (sigma**2 + sd**2) / (sigma * sd) ** 2
        err = (self(x + self._bcast(sigma) * noise, sigma, y) - x) ** 2
        return (self._bcast(weight) * err).flatten(1).mean(1).mean()

    @torch.no_grad()
    def sample_euler_ancestral(self, n: int, schedule: KarrasSchedule,
                               generator: torch.Generator | None = None, y: Tensor | None = None) -> Tensor:
        """Euler-ancestral sampling on ``schedule`` (x_0 = sigma_0 N(0, I))."""
        dev = next(self.parameters()).device
        s = schedule.sigmas.float().to(dev)
        x = s[0] * torch.randn((n, *self.sample_shape), generator=generator, device=dev)
        for t in range(schedule.num_steps):
            d = self(x, s[t].expand(n), y)
            x = x + (x - d) / s[t] * (float(schedule.sigma_down[t]) - s[t])
            up = float(schedule.sigma_up[t])
            if up > 0:
                x = x + up * torch.randn(x.shape, generator=generator, device=dev)
        return x
