"""The time-independent value shared with the energy: V(x, t) = E(x) for every t.

Used for images in the release: one network is both energy and value; a telescoping time cost in
the TD targets (see :mod:`dxmi.values.time_cost`) lets it rank noisier states.
"""

from __future__ import annotations

from torch import Tensor, nn

from dxmi.energies.base import Energy
from dxmi.values.base import ValueFunction


class SharedEnergyValue(ValueFunction):
    def __init__(self, energy: Energy, num_steps: int):
        super().__init__(energy.sample_shape, num_steps)
        self.energy = energy

    @property
    def num_classes(self) -> int:
        return self.energy.num_classes

    def value(self, x: Tensor, t: Tensor) -> Tensor:
        return self.energy(x)

    def conditional_value(self, x: Tensor, t: Tensor, y: Tensor) -> Tensor:
        return self.energy(x, y)

    def trainable_parameters(self) -> list[nn.Parameter]:
        return []

    def shares_energy(self) -> bool:
        return True
