"""MALA / HMC sanity on a Gaussian; energy evaluations are counted honestly."""

import pytest
import torch

from dxmi.baselines import AIS, HMC, MALA, MCMCResult, Sampler, ais, hmc, mala, mala_thinned
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


# -- the Sampler classes draw what the functions draw ------------------------------------------------------
def _same(a, b):
    torch.testing.assert_close(a.samples, b.samples, rtol=0, atol=0)
    assert (a.n_energy_evals, a.acceptance, a.step_size) == (b.n_energy_evals, b.acceptance, b.step_size)


def test_sampler_classes_match_the_functions_on_a_2d_gaussian():
    t = GaussianTarget(torch.tensor([1.0, -0.5]), 0.7)
    n, g = 300, lambda s: torch.Generator().manual_seed(s)
    x0 = 2.0 * torch.randn(n, 2, generator=g(3))  # as benchmarks/vgs.py: shared starts, one generator each
    samplers = {"mala": (MALA(t, 40, step_size=0.05, init=x0), mala(t, x0, 40, step_size=0.05, generator=g(4))),
                "mala_same_steps": (MALA(t, 10, step_size=0.05, init=x0, adapt_steps=0),
                                    mala(t, x0, 10, step_size=0.05, generator=g(4), adapt_steps=0)),
                "mala_long": (MALA(t, 200, step_size=0.05, init=x0, chains=16),
                              mala_thinned(t, x0[:16], 200, n, step_size=0.05, generator=g(4))),
                "hmc": (HMC(t, 8, step_size=0.1, n_leapfrog=5, init=x0),
                        hmc(t, x0, 8, step_size=0.1, n_leapfrog=5, generator=g(4)))}
    for name, (sampler, old) in samplers.items():
        assert isinstance(sampler, Sampler), name
        new = sampler.sample(n, g(4))
        assert new.samples.shape == (n, 2), name
        _same(new, old)
        _same(sampler.sample(n, g(4)), new)  # a sampler holds no state between draws
    a_new = AIS(t, levels=30, init_std=2.0, step_size=0.05).sample(n, g(6))
    a_old = ais(t, n, n_levels=30, init_std=2.0, step_size=0.05, generator=g(6))
    assert isinstance(a_new, MCMCResult) and isinstance(AIS(t), Sampler)
    _same(a_new, a_old)
    assert (a_new.log_z, a_new.ess) == (a_old.log_z, a_old.ess) and torch.equal(a_new.log_w, a_old.log_w)
    assert 0 < a_new.acceptance <= 1 and a_new.step_size == 0.05
    assert a_new.log_z == pytest.approx(t.log_z, abs=0.3)  # 30 levels: a rough estimate


def test_sampler_start_states():
    t = GaussianTarget(torch.zeros(2), 1.0)
    x0 = torch.randn(10, 2, generator=torch.Generator().manual_seed(0))
    # a number is the standard deviation of Gaussian starts drawn from the sample's generator first
    g = torch.Generator().manual_seed(5)
    starts = 1.5 * torch.randn(10, 2, generator=g)
    _same(MALA(t, 5, init=1.5).sample(10, torch.Generator().manual_seed(5)), mala(t, starts, 5, generator=g))
    # a tensor: its first n rows
    _same(HMC(t, 3, init=x0).sample(4, torch.Generator().manual_seed(1)),
          hmc(t, x0[:4], 3, generator=torch.Generator().manual_seed(1)))
    with pytest.raises(ValueError, match="11 chains need 11 start states"):
        MALA(t, 5, init=x0).sample(11)
    with pytest.raises(ValueError, match=r"\(B, 2\)"):
        HMC(t, 3, init=torch.zeros(10, 3)).sample(4)
    with pytest.raises(ValueError, match="positive standard deviation"):
        MALA(t, 5, init=0.0).sample(4)
    with pytest.raises(ValueError, match="adapt_steps"):
        MALA(t, 5, chains=4, adapt_steps=2)
