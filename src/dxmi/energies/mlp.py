"""MLP energy for vectors."""

from __future__ import annotations

from torch import Tensor

from dxmi.energies.base import Energy
from dxmi.nets.mlp import MLP, FourierFeatures


class MLPEnergy(Energy):
    """E(x) = MLP(x) (or MLP of random Fourier features of x) for x of shape (B, D)."""

    def __init__(self, dim: int, hidden: int = 128, depth: int = 3, activation: str = "silu",
                 fourier_features: int = 0, fourier_scale: float = 1.0):
        super().__init__((dim,))
        self.features = FourierFeatures(dim, fourier_features, fourier_scale) if fourier_features > 0 else None
        in_dim = self.features.out_dim if self.features is not None else dim
        self.net = MLP(in_dim, 1, hidden=hidden, depth=depth, activation=activation)

    def energy(self, x: Tensor) -> Tensor:
        h = self.features(x) if self.features is not None else x
        return self.net(h).squeeze(-1)
