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

    A batch that mixes terminal and earlier steps runs both networks on every row and keeps the
    right one per row; a value that *is* the energy (:class:`~dxmi.values.SharedEnergyValue` over
    the same module) is run once instead, which gives the same numbers. ``split`` (an option, off
    by default) runs the energy on the terminal rows only and the value on the others: fewer
    evaluations, but products over fewer rows, whose last bits can differ.
    """

    def __init__(self, value: ValueFunction, energy: nn.Module, split: bool = False):
        self.value = value
        self.energy = energy
        self.num_steps = value.num_steps
        self.split = split
        # V(x, t) = E(x) for every t: a value that is this very energy
        self.value_is_energy = value.shares_energy() and getattr(value, "energy", None) is energy

    def __call__(self, x: Tensor, t: Tensor, y: Tensor | None = None, split: bool | None = None) -> Tensor:
        """V(x, t) (E at t = T): x (N, *S), t (N,) long in 0..T; ``split`` overrides :attr:`split`."""
        terminal = t == self.num_steps
        if self.value_is_energy or bool(terminal.all()):
            return call(self.energy, x, y=labels_for(self.energy, y))
        if (self.split if split is None else split) and bool(terminal.any()):
            return self._split(x, t, terminal, y)
        v = call(self.value, x, t.clamp(max=self.num_steps - 1), y=labels_for(self.value, y))
        if not bool(terminal.any()):
            return v
        return torch.where(terminal, call(self.energy, x, y=labels_for(self.energy, y)), v)

    def _split(self, x: Tensor, t: Tensor, terminal: Tensor, y: Tensor | None) -> Tensor:
        """E on the terminal rows, V on the rest, put back in the batch's order (differentiable)."""
        last = terminal.nonzero().squeeze(1)
        rest = (~terminal).nonzero().squeeze(1)
        ye, yv = labels_for(self.energy, y), labels_for(self.value, y)
        e = call(self.energy, x[last], y=None if ye is None else ye[last])
        v = call(self.value, x[rest], t[rest], y=None if yv is None else yv[rest])
        values = torch.cat([v, e])
        return values.new_empty(values.shape).index_copy(0, torch.cat([rest, last]), values)
