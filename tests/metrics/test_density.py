"""dxmi.metrics.density: the density error on a grid and the TV distance of energies."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dxmi.data import EightGaussians
from dxmi.metrics import DensityError, density_error, tvd_energy

torch.set_num_threads(1)


def _rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def test_density_error() -> None:
    ds = EightGaussians()
    exact = density_error(lambda z: -ds.log_prob(z), ds.log_prob, resolution=120)
    assert isinstance(exact, DensityError)
    assert exact.tv == pytest.approx(0.0, abs=1e-6)
    assert exact.kl == pytest.approx(0.0, abs=1e-6)
    # an energy with an additive constant is the same normalised density
    shifted = density_error(lambda z: 3.0 - ds.log_prob(z), ds.log_prob, resolution=120)
    assert shifted.tv == pytest.approx(0.0, abs=1e-6)
    # a broad Gaussian is far from the mixture
    broad = density_error(lambda z: (z**2).sum(1) / 8.0, ds.log_prob, resolution=120)
    assert broad.tv > 0.3 and broad.kl > 0.3
    with pytest.raises(ValueError, match="output shape"):
        density_error(lambda z: z, ds.log_prob, resolution=10)


def test_tvd_energy() -> None:
    e = _rng(14).normal(size=5000)
    assert tvd_energy(e, e) == 0.0
    assert tvd_energy(e + 100.0, e) == pytest.approx(1.0)
    # uniform on [0, 1] vs uniform on [0.5, 1.5]: TV = 0.5
    u = np.linspace(0, 1, 100_000, endpoint=False)
    assert tvd_energy(u + 0.5, u, bins=100) == pytest.approx(0.5, abs=1e-3)
    assert tvd_energy(torch.as_tensor(u + 0.5), u, bins=100, range=(0.0, 2.0)) == pytest.approx(
        0.5, abs=1e-3
    )
