"""A fixed (parameter-free) Gaussian energy, the analytic case used in tests and examples.

E(x) = ||x - m||^2 / (2 v)  for x (B, D): q(x) = N(m, v I).
"""

from __future__ import annotations

import torch
from torch import Tensor

from dxmi.energies.base import Energy


class GaussianEnergy(Energy):
    mean: Tensor

    def __init__(self, mean: Tensor, var: float):
        mean = torch.as_tensor(mean, dtype=torch.float32)
        if mean.ndim != 1:
            raise ValueError(f"mean must be a vector (D,), received shape {tuple(mean.shape)}")
        if var <= 0:
            raise ValueError(f"var must be > 0, got {var}")
        super().__init__((mean.shape[0],))
        self.register_buffer("mean", mean)
        self.var = float(var)

    def energy(self, x: Tensor) -> Tensor:
        return ((x - self.mean) ** 2).sum(-1) / (2 * self.var)
