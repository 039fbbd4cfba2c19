"""dxmi.baselines.hmc: HMC on a Gaussian; energy evaluations are counted honestly."""

import pytest
import torch

from dxmi.baselines import hmc
from dxmi.targets import GaussianTarget


def test_hmc_gaussian():
    m = torch.tensor([-1.0, 1.0])
    t = GaussianTarget(m, 1.0)
    x0 = torch.zeros(1000, 2)
    r = hmc(t, x0, 60, step_size=0.3, n_leapfrog=5, generator=torch.Generator().manual_seed(2))
    assert 0.5 < r.acceptance <= 1.0
    torch.testing.assert_close(r.samples.mean(0), m, atol=0.1, rtol=0)
    assert r.samples.std(0).mean().item() == pytest.approx(1.0, rel=0.1)
    assert r.n_energy_evals == 1000 * (60 * 5 + 1)
