"""Base class of value functions."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from dxmi.nets.conditioning import call, check_labels, labels_for


class ValueFunction(nn.Module):
    """V_psi(x, t): x (B, *S), t (B,) long in 0..T -> (B,). Lower is better (a cost-to-go).

    A class-conditional value (``num_classes = K > 0``) also implements :meth:`conditional_value`
    V(x, t | y); ``forward(x, t, y)`` dispatches to it when labels are given.
    """

    def __init__(self, sample_shape: tuple[int, ...], num_steps: int):
        super().__init__()
        self.sample_shape = tuple(sample_shape)
        self.num_steps = num_steps

    @property
    def num_classes(self) -> int:
        return 0

    def value(self, x: Tensor, t: Tensor) -> Tensor:
        raise NotImplementedError

    def conditional_value(self, x: Tensor, t: Tensor, y: Tensor) -> Tensor:
        raise NotImplementedError(f"{type(self).__name__} is unconditional")

    def forward(self, x: Tensor, t: Tensor, y: Tensor | None = None) -> Tensor:
        if tuple(x.shape[1:]) != self.sample_shape or t.shape != (x.shape[0],):
            raise ValueError(f"{type(self).__name__}: expected x (B, {self.sample_shape}) and t (B,), "
                             f"received x {tuple(x.shape)} and t {tuple(t.shape)}")
        if y is None:
            return self.value(x, t)
        check_labels(y, x.shape[0], self.num_classes, type(self).__name__)
        return self.conditional_value(x, t, y)

    def trainable_parameters(self) -> list[nn.Parameter]:
        """Parameters that the value optimiser owns (empty when shared with the energy)."""
        return list(self.parameters())

    def shares_energy(self) -> bool:
        return False


def full_t(n: int, t: int, device: torch.device) -> Tensor:
    return torch.full((n,), t, dtype=torch.long, device=device)


class CostToGo:
    """V(x, t) for t = 0..T with V(., T) = E: the value for t < T and the energy at t = T.

    A plain callable over the two modules (it owns no parameters). Labels ``y`` of
    class-conditional chains go to whichever of the two is class-conditional.
    """

    def __init__(self, value: ValueFunction, energy: nn.Module):
        self.value = value
        self.energy = energy
        self.num_steps = value.num_steps

    def __call__(self, x: Tensor, t: Tensor, y: Tensor | None = None) -> Tensor:
        terminal = t == self.num_steps
        if bool(terminal.all()):
            return call(self.energy, x, y=labels_for(self.energy, y))
        v = call(self.value, x, t.clamp(max=self.num_steps - 1), y=labels_for(self.value, y))
        if not bool(terminal.any()):
            return v
        return torch.where(terminal, call(self.energy, x, y=labels_for(self.energy, y)), v)
