"""A time-dependent value V_psi(x, t) separate from the energy (anomaly detection, 2D)."""

from __future__ import annotations

from torch import Tensor, nn

from dxmi.values.base import ValueFunction


class TimeDependentValue(ValueFunction):
    """V(x, t) = net(x, t) with ``net(x (B, *S), t (B,)) -> (B, 1)`` (e.g. :class:`TimeMLP`)."""

    def __init__(self, net: nn.Module, sample_shape: tuple[int, ...], num_steps: int):
        super().__init__(sample_shape, num_steps)
        self.net = net

    def value(self, x: Tensor, t: Tensor) -> Tensor:
        return self.net(x, t.float()).reshape(x.shape[0])
