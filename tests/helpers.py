"""Small analytic parts shared by the tests."""

from __future__ import annotations

import torch
from torch import nn

from dxmi.policies import GaussianPolicy
from dxmi.values import ValueFunction


class ConstantMeanPolicy(GaussianPolicy):
    """mu(x, t) = b_t (ignores x)."""

    def __init__(self, T: int, D: int, sigma: float = 1.0, fix_last: bool = False):
        super().__init__((D,), [sigma] * T, fix_last=fix_last)
        self.b = nn.Parameter(torch.zeros(T, D))

    def mean(self, x, t):
        return self.b[t] + 0 * x


class AffinePolicy(GaussianPolicy):
    """mu(x, t) = a_t x + b_t."""

    def __init__(self, T: int, D: int, sigma: float = 0.5, fix_last: bool = True):
        super().__init__((D,), [sigma] * T, fix_last=fix_last)
        self.a = nn.Parameter(torch.full((T,), 0.5))
        self.b = nn.Parameter(torch.zeros(T, D))

    def mean(self, x, t):
        return self.a[t][:, None] * x + self.b[t]


class LinearValue(ValueFunction):
    """V(x, t) = w_t . x + c_t."""

    def __init__(self, T: int, D: int):
        super().__init__((D,), T)
        self.w = nn.Parameter(torch.zeros(T, D))
        self.c = nn.Parameter(torch.zeros(T))

    def value(self, x, t):
        return (self.w[t] * x).sum(1) + self.c[t]
