"""Karras et al. (EDM) noise levels and the Euler-ancestral split of each step.

Noise levels (T steps, from noise to data):

    sigma_i = (sigma_max^(1/rho) + i / (T - 1) (sigma_min^(1/rho) - sigma_max^(1/rho)))^rho,  i = 0..T-1,

followed by sigma_T = 0 (the last step lands on clean data) -- or, with ``stochastic_last``, the
levels are T + 1 values from sigma_max down to sigma_min, so the last step also injects noise.

Euler-ancestral step sigma_from -> sigma_to:

    sigma_up   = sqrt(sigma_to^2 (sigma_from^2 - sigma_to^2) / sigma_from^2),
    sigma_down = sqrt(sigma_to^2 - sigma_up^2),
    x' = x + (x - D(x; sigma_from)) / sigma_from * (sigma_down - sigma_from) + sigma_up * z.

The release's settings: rho = 7 for T = 10 (deterministic last step), rho = 4 with a stochastic
last step for T = 4; sigma_min = 0.002, sigma_max = 80. All tables are float64.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor


def karras_sigmas(n: int, sigma_min: float = 0.002, sigma_max: float = 80.0, rho: float = 7.0) -> Tensor:
    """The n Karras levels from sigma_max down to sigma_min (float64)."""
    if n < 2:
        raise ValueError(f"need at least 2 Karras levels, got {n}")
    if not 0 < sigma_min < sigma_max:
        raise ValueError(f"need 0 < sigma_min < sigma_max, got {sigma_min}, {sigma_max}")
    i = torch.arange(n, dtype=torch.float64) / (n - 1)
    a, b = sigma_max ** (1 / rho), sigma_min ** (1 / rho)
    return (a + i * (b - a)) ** rho


def ancestral_split(sigma_from: Tensor, sigma_to: Tensor) -> tuple[Tensor, Tensor]:
    """(sigma_up, sigma_down) of Euler-ancestral steps sigma_from -> sigma_to (elementwise)."""
    up = (sigma_to**2 * (sigma_from**2 - sigma_to**2) / sigma_from**2).clamp_min(0).sqrt()
    down = (sigma_to**2 - up**2).clamp_min(0).sqrt()
    return up, down


@dataclass(frozen=True)
class KarrasSchedule:
    """Tables of a T-step Euler-ancestral sampler, indexed by step t = 0..T-1 (noise to data).

    Attributes:
        sigmas: ``(T + 1,)`` noise levels; step t goes from ``sigmas[t]`` to ``sigmas[t + 1]``.
        sigma_up: ``(T,)`` std of the noise each step injects (the initial policy sigma_t).
        sigma_down: ``(T,)`` the deterministic target level of each step.
    """

    sigmas: Tensor
    sigma_up: Tensor
    sigma_down: Tensor

    @property
    def num_steps(self) -> int:
        return len(self.sigma_up)

    @classmethod
    def build(cls, num_steps: int, rho: float = 7.0, stochastic_last: bool = False, sigma_min: float = 0.002,
              sigma_max: float = 80.0) -> KarrasSchedule:
        if num_steps < 1:
            raise ValueError(f"num_steps must be >= 1, got {num_steps}")
        if stochastic_last:
            sigmas = karras_sigmas(num_steps + 1, sigma_min, sigma_max, rho)
        else:
            sigmas = torch.cat([karras_sigmas(max(num_steps, 2), sigma_min, sigma_max, rho)[:num_steps],
                                torch.zeros(1, dtype=torch.float64)])
        up, down = ancestral_split(sigmas[:-1], sigmas[1:])
        return cls(sigmas=sigmas, sigma_up=up, sigma_down=down)

    @classmethod
    def release(cls, num_steps: int) -> KarrasSchedule:
        """The release's choice: T = 4 -> rho 4 with a stochastic last step; otherwise rho 7."""
        if num_steps == 4:
            return cls.build(4, rho=4.0, stochastic_last=True)
        return cls.build(num_steps, rho=7.0)
