"""dxmi.baselines.common: the Sampler classes draw what the functions draw; start states."""

import pytest
import torch

from dxmi.baselines import AIS, HMC, MALA, MCMCResult, Sampler, ais, hmc, mala, mala_thinned
from dxmi.targets import GaussianTarget


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
