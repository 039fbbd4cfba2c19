"""Base class of energies."""

from __future__ import annotations

from torch import Tensor, nn


class Energy(nn.Module):
    """E(x): (B, *S) -> (B,). Subclasses implement :meth:`energy`; ``forward`` checks shapes."""

    def __init__(self, sample_shape: tuple[int, ...]):
        super().__init__()
        self.sample_shape = tuple(sample_shape)

    def energy(self, x: Tensor) -> Tensor:
        raise NotImplementedError

    def magnitude(self, x: Tensor, e: Tensor) -> Tensor:
        """The part of the energy ``e = E(x)`` that the energy-magnitude regulariser
        gamma (mean E(data)^2 + mean E(samples)^2) acts on: all of it, unless a subclass has a
        fixed (parameter-free) base term that should not be pulled towards zero."""
        return e

    def forward(self, x: Tensor) -> Tensor:
        if tuple(x.shape[1:]) != self.sample_shape:
            raise ValueError(f"{type(self).__name__}: expected input (B, {', '.join(map(str, self.sample_shape))}), "
                             f"received {tuple(x.shape)}")
        e = self.energy(x)
        if e.shape != (x.shape[0],):
            raise RuntimeError(
                f"{type(self).__name__}.energy returned shape {tuple(e.shape)}, expected ({x.shape[0]},)")
        return e
