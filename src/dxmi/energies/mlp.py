"""MLP energy for vectors."""

from __future__ import annotations

from torch import Tensor

from dxmi.energies.base import Energy
from dxmi.nets.mlp import MLP


class MLPEnergy(Energy):
    """E(x) = MLP(x) for x of shape (B, D)."""

    def __init__(self, dim: int, hidden: int = 128, depth: int = 3, activation: str = "silu"):
        super().__init__((dim,))
        self.net = MLP(dim, 1, hidden=hidden, depth=depth, activation=activation)

    def energy(self, x: Tensor) -> Tensor:
        return self.net(x).squeeze(-1)
