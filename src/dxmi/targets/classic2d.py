"""Classic 2D test energies (Rezende & Mohamed 2015, "Variational inference with normalizing
flows", Table 1: U_1..U_4) and a banana. No exact samplers; 2D metrics can use a grid."""

from __future__ import annotations

import math

import torch
from torch import Tensor

from dxmi.targets.base import Target


def _w1(z: Tensor) -> Tensor:
    return torch.sin(2 * math.pi * z / 4)


class Target2D(Target):
    plot_range = 4.0

    def __init__(self) -> None:
        super().__init__(2)


class RingU1(Target2D):
    """U_1(z) = 0.5 ((||z|| - 2) / 0.4)^2 - log(exp(-0.5 ((z1 - 2)/0.6)^2) + exp(-0.5 ((z1 + 2)/0.6)^2))."""

    def energy(self, x: Tensor) -> Tensor:
        r = x.norm(dim=1)
        a = -0.5 * ((x[:, 0] - 2) / 0.6) ** 2
        b = -0.5 * ((x[:, 0] + 2) / 0.6) ** 2
        return 0.5 * ((r - 2) / 0.4) ** 2 - torch.logaddexp(a, b)


class WaveU2(Target2D):
    """U_2(z) = 0.5 ((z2 - w1(z)) / 0.4)^2, w1(z) = sin(2 pi z1 / 4); a soft box |z1| <= 4 keeps it proper."""

    def energy(self, x: Tensor) -> Tensor:
        return 0.5 * ((x[:, 1] - _w1(x[:, 0])) / 0.4) ** 2 + _box(x[:, 0])


class WaveU3(Target2D):
    """U_3(z) = -log(exp(-0.5 ((z2 - w1)/0.35)^2) + exp(-0.5 ((z2 - w1 + w2)/0.35)^2)),
    w2 = 3 exp(-0.5 ((z1 - 1)/0.6)^2); soft box on z1."""

    def energy(self, x: Tensor) -> Tensor:
        w1 = _w1(x[:, 0])
        w2 = 3 * torch.exp(-0.5 * ((x[:, 0] - 1) / 0.6) ** 2)
        a = -0.5 * ((x[:, 1] - w1) / 0.35) ** 2
        b = -0.5 * ((x[:, 1] - w1 + w2) / 0.35) ** 2
        return -torch.logaddexp(a, b) + _box(x[:, 0])


class WaveU4(Target2D):
    """U_4(z) = -log(exp(-0.5 ((z2 - w1)/0.4)^2) + exp(-0.5 ((z2 - w1 + w3)/0.35)^2)),
    w3 = 3 sigmoid((z1 - 1)/0.3); soft box on z1."""

    def energy(self, x: Tensor) -> Tensor:
        w1 = _w1(x[:, 0])
        w3 = 3 * torch.sigmoid((x[:, 0] - 1) / 0.3)
        a = -0.5 * ((x[:, 1] - w1) / 0.4) ** 2
        b = -0.5 * ((x[:, 1] - w1 + w3) / 0.35) ** 2
        return -torch.logaddexp(a, b) + _box(x[:, 0])


class Banana(Target2D):
    """Banana: ``E(x) = x1^2 / 8 + (x2 - x1^2 / 4 + 1)^2 / 2`` (a bent Gaussian; log Z = log 4 pi)."""

    log_z = math.log(4 * math.pi)

    def energy(self, x: Tensor) -> Tensor:
        return x[:, 0] ** 2 / 8 + (x[:, 1] - x[:, 0] ** 2 / 4 + 1) ** 2 / 2

    def sample(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        z = torch.randn(n, 2, generator=generator)
        x1 = 2 * z[:, 0]
        return torch.stack([x1, z[:, 1] + x1**2 / 4 - 1], dim=1)


def _box(z1: Tensor, half_width: float = 4.0, sharpness: float = 10.0) -> Tensor:
    """A soft wall: ~0 inside [-w, w], growing quadratically outside (keeps U_2..U_4 integrable)."""
    return 0.5 * sharpness * torch.relu(z1.abs() - half_width) ** 2
