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

    def forward(self, x: Tensor) -> Tensor:
        if tuple(x.shape[1:]) != self.sample_shape:
            raise ValueError(f"{type(self).__name__}: expected input (B, {', '.join(map(str, self.sample_shape))}), "
                             f"received {tuple(x.shape)}")
        e = self.energy(x)
        if e.shape != (x.shape[0],):
            raise RuntimeError(
                f"{type(self).__name__}.energy returned shape {tuple(e.shape)}, expected ({x.shape[0]},)")
        return e
