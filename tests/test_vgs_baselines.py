"""MALA / HMC sanity on a Gaussian; energy evaluations are counted honestly."""

import pytest
import torch

from dxmi.baselines import hmc, mala, mala_thinned
from dxmi.targets import DW4, GaussianTarget


def test_mala_gaussian():
    m = torch.tensor([2.0, -1.0, 0.5])
    t = GaussianTarget(m, 0.5)
    x0 = torch.randn(1000, 3, generator=torch.Generator().manual_seed(0))
    r = mala(t, x0, 200, step_size=0.05, generator=torch.Generator().manual_seed(1))
    assert 0.4 < r.acceptance < 0.8
    torch.testing.assert_close(r.samples.mean(0), m, atol=0.06, rtol=0)
    assert r.samples.std(0).mean().item() == pytest.approx(0.5, rel=0.1)
    assert r.n_energy_evals == 1000 * 201


def test_mala_thinned_gaussian_from_few_long_chains():
    m = torch.tensor([2.0, -1.0, 0.5])
    t = GaussianTarget(m, 0.5)
    x0 = torch.randn(20, 3, generator=torch.Generator().manual_seed(0))
    r = mala_thinned(t, x0, 2000, n_keep=1000, step_size=0.05, generator=torch.Generator().manual_seed(1))
    assert r.samples.shape == (1000, 3) and r.n_energy_evals == 20 * 2001
    assert 0.4 < r.acceptance < 0.8
    torch.testing.assert_close(r.samples.mean(0), m, atol=0.08, rtol=0)
    assert r.samples.std(0).mean().item() == pytest.approx(0.5, rel=0.1)
    # the kept states are spread along the chains, not the last ones repeated
    assert torch.unique(r.samples[:, 0]).numel() == 1000
    with pytest.raises(ValueError, match="cannot give"):
        mala_thinned(t, x0, 20, n_keep=1000)


def test_hmc_gaussian():
    m = torch.tensor([-1.0, 1.0])
    t = GaussianTarget(m, 1.0)
    x0 = torch.zeros(1000, 2)
    r = hmc(t, x0, 60, step_size=0.3, n_leapfrog=5, generator=torch.Generator().manual_seed(2))
    assert 0.5 < r.acceptance <= 1.0
    torch.testing.assert_close(r.samples.mean(0), m, atol=0.1, rtol=0)
    assert r.samples.std(0).mean().item() == pytest.approx(1.0, rel=0.1)
    assert r.n_energy_evals == 1000 * (60 * 5 + 1)


def test_mcmc_keeps_particles_centred():
    t = DW4()
    x0 = torch.randn(64, 8, generator=torch.Generator().manual_seed(0)) * 2
    r = mala(t, x0, 20, step_size=0.01, generator=torch.Generator().manual_seed(1))
    com = r.samples.reshape(64, 4, 2).mean(1)
    assert com.abs().max().item() < 1e-5
