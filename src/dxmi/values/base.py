"""Base class of value functions."""

from __future__ import annotations

import torch
from torch import Tensor, nn


class ValueFunction(nn.Module):
    """V_psi(x, t): x (B, *S), t (B,) long in 0..T -> (B,). Lower is better (a cost-to-go)."""

    def __init__(self, sample_shape: tuple[int, ...], num_steps: int):
        super().__init__()
        self.sample_shape = tuple(sample_shape)
        self.num_steps = num_steps

    def value(self, x: Tensor, t: Tensor) -> Tensor:
        raise NotImplementedError

    def forward(self, x: Tensor, t: Tensor) -> Tensor:
        if tuple(x.shape[1:]) != self.sample_shape or t.shape != (x.shape[0],):
            raise ValueError(f"{type(self).__name__}: expected x (B, {self.sample_shape}) and t (B,), "
                             f"received x {tuple(x.shape)} and t {tuple(t.shape)}")
        return self.value(x, t)

    def trainable_parameters(self) -> list[nn.Parameter]:
        """Parameters that the value optimiser owns (empty when shared with the energy)."""
        return list(self.parameters())

    def shares_energy(self) -> bool:
        return False


def full_t(n: int, t: int, device: torch.device) -> Tensor:
    return torch.full((n,), t, dtype=torch.long, device=device)


class CostToGo:
    """V(x, t) for t = 0..T with V(., T) = E: the value for t < T and the energy at t = T.

    A plain callable over the two modules (it owns no parameters).
    """

    def __init__(self, value: ValueFunction, energy: nn.Module):
        self.value = value
        self.energy = energy
        self.num_steps = value.num_steps

    def __call__(self, x: Tensor, t: Tensor) -> Tensor:
        terminal = t == self.num_steps
        if bool(terminal.all()):
            return self.energy(x)
        v = self.value(x, t.clamp(max=self.num_steps - 1))
        if not bool(terminal.any()):
            return v
        return torch.where(terminal, self.energy(x), v)
