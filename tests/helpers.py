"""Small analytic parts shared by the tests."""

from __future__ import annotations

import torch
from torch import nn

from dxmi.energies import Energy
from dxmi.policies import GaussianPolicy
from dxmi.values import ValueFunction


class ConstantMeanPolicy(GaussianPolicy):
    """mu(x, t) = b_t (ignores x)."""

    def __init__(self, T: int, D: int, sigma: float = 1.0, fix_last: bool = False):
        super().__init__((D,), [sigma] * T, fix_last=fix_last)
        self.b = nn.Parameter(torch.zeros(T, D))

    def mean(self, x, t, y=None):
        return self.b[t] + 0 * x


class AffinePolicy(GaussianPolicy):
    """mu(x, t) = a_t x + b_t."""

    def __init__(self, T: int, D: int, sigma: float = 0.5, fix_last: bool = True):
        super().__init__((D,), [sigma] * T, fix_last=fix_last)
        self.a = nn.Parameter(torch.full((T,), 0.5))
        self.b = nn.Parameter(torch.zeros(T, D))

    def mean(self, x, t, y=None):
        return self.a[t][:, None] * x + self.b[t]


class LinearValue(ValueFunction):
    """V(x, t) = w_t . x + c_t."""

    def __init__(self, T: int, D: int):
        super().__init__((D,), T)
        self.w = nn.Parameter(torch.zeros(T, D))
        self.c = nn.Parameter(torch.zeros(T))

    def value(self, x, t):
        return (self.w[t] * x).sum(1) + self.c[t]


class ClassConstantMeanPolicy(GaussianPolicy):
    """Class-conditional mu(x, t, y) = b_{t, y} (ignores x); y None is the null class K."""

    def __init__(self, T: int, D: int, K: int, sigma: float = 1.0, fix_last: bool = False):
        super().__init__((D,), [sigma] * T, fix_last=fix_last)
        self.K = K
        self.b = nn.Parameter(torch.zeros(T, K + 1, D))

    @property
    def num_classes(self):
        return self.K

    def mean(self, x, t, y=None):
        y = torch.full_like(t, self.K) if y is None else y
        return self.b[t, y] + 0 * x


class ClassGaussianEnergy(Energy):
    """A fixed class-conditional energy E(x | y) = ||x - c_y||^2 / (2 v) (no parameters)."""

    def __init__(self, centers: torch.Tensor, v: float):
        super().__init__((centers.shape[1],))
        self.register_buffer("centers", centers.clone())
        self.v = v

    @property
    def num_classes(self):
        return self.centers.shape[0]

    def energy(self, x):
        return (x**2).sum(1) / (2 * self.v)

    def conditional_energy(self, x, y):
        return ((x - self.centers[y]) ** 2).sum(1) / (2 * self.v)


def randomise_output(net):
    """A fresh UNet predicts 0 (zero-initialised output and residual convolutions); give them weights."""
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        net.conv_out.weight.copy_(0.1 * torch.randn(net.conv_out.weight.shape, generator=g))
        for m in net.modules():
            if isinstance(m, nn.Conv2d) and bool((m.weight == 0).all()):
                m.weight.copy_(0.05 * torch.randn(m.weight.shape, generator=g))
    return net
