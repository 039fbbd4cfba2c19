"""Base class of energies."""

from __future__ import annotations

from torch import Tensor, nn

from dxmi.nets.conditioning import check_labels


class Energy(nn.Module):
    """E(x): (B, *S) -> (B,). Subclasses implement :meth:`energy`; ``forward`` checks shapes.

    A class-conditional energy (``num_classes = K > 0``) also implements :meth:`conditional_energy`
    E(x | y); ``forward(x, y)`` dispatches to it when labels are given.
    """

    def __init__(self, sample_shape: tuple[int, ...]):
        super().__init__()
        self.sample_shape = tuple(sample_shape)

    @property
    def num_classes(self) -> int:
        """K of a class-conditional energy (labels 0..K-1), 0 for an unconditional one."""
        return 0

    def energy(self, x: Tensor) -> Tensor:
        raise NotImplementedError

    def conditional_energy(self, x: Tensor, y: Tensor) -> Tensor:
        """E(x | y) for labels y (B,) long: (B,). Class-conditional subclasses implement it."""
        raise NotImplementedError(f"{type(self).__name__} is unconditional")

    def magnitude(self, x: Tensor, e: Tensor) -> Tensor:
        """The part of the energy ``e = E(x)`` that the energy-magnitude regulariser
        gamma (mean E(data)^2 + mean E(samples)^2) acts on: all of it, unless a subclass has a
        fixed (parameter-free) base term that should not be pulled towards zero."""
        return e

    def forward(self, x: Tensor, y: Tensor | None = None) -> Tensor:
        if tuple(x.shape[1:]) != self.sample_shape:
            raise ValueError(f"{type(self).__name__}: expected input (B, {', '.join(map(str, self.sample_shape))}), "
                             f"received {tuple(x.shape)}")
        if y is None:
            e = self.energy(x)
        else:
            check_labels(y, x.shape[0], self.num_classes, type(self).__name__)
            e = self.conditional_energy(x, y)
        if e.shape != (x.shape[0],):
            raise RuntimeError(
                f"{type(self).__name__}.energy returned shape {tuple(e.shape)}, expected ({x.shape[0]},)")
        return e
