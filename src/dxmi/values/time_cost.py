"""Time costs added to TD targets.

The sigmoid time cost of the release is a telescoping offset

    b_t = kappa * [sigmoid(c - t) - sigmoid(c - t - 1)],   c = T // 2,

added to the target of V(x_t, t). Summed along a trajectory it telescopes to
kappa * [sigmoid(c) - sigmoid(c - T)], so it changes no policy optimum, but it lets one
time-independent network give states at earlier (noisier) steps a higher value.
"""

from __future__ import annotations

import torch
from torch import Tensor


class TimeCost:
    def __call__(self, t: Tensor) -> Tensor:
        raise NotImplementedError


class ZeroTimeCost(TimeCost):
    def __call__(self, t: Tensor) -> Tensor:
        return torch.zeros(t.shape, dtype=torch.float32, device=t.device)


class SigmoidTimeCost(TimeCost):
    def __init__(self, num_steps: int, kappa: float = 1.0, center: int | None = None):
        self.kappa = kappa
        self.center = num_steps // 2 if center is None else center

    def __call__(self, t: Tensor) -> Tensor:
        tf = t.float()
        c = self.center
        return self.kappa * (torch.sigmoid(c - tf) - torch.sigmoid(c - tf - 1))
