"""dxmi.baselines.mala: MALA on a Gaussian (energy evaluations counted honestly), thinned chains,
particles stay centred, persistent chains leave the target invariant and resume exactly."""

import pytest
import torch

from dxmi.baselines import MALAChains, mala, mala_thinned
from dxmi.targets import DW4, GaussianTarget, make_target


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


def test_mcmc_keeps_particles_centred():
    t = DW4()
    x0 = torch.randn(64, 8, generator=torch.Generator().manual_seed(0)) * 2
    r = mala(t, x0, 20, step_size=0.01, generator=torch.Generator().manual_seed(1))
    com = r.samples.reshape(64, 4, 2).mean(1)
    assert com.abs().max().item() < 1e-5


def test_mala_chains_leave_the_target_invariant_and_resume_exactly():
    m, sd = torch.tensor([1.0, -1.0]), torch.tensor([0.5, 2.0])
    target = GaussianTarget(m, sd)
    g = torch.Generator().manual_seed(0)
    x0 = m + sd * torch.randn(20000, 2, generator=g)
    chains = MALAChains(target, x0, step_size=0.1)
    for _ in range(20):
        chains.step(g, adapt=False)
    torch.testing.assert_close(chains.x.mean(0), m, atol=0.05, rtol=0)
    torch.testing.assert_close(chains.x.std(0), sd, atol=0.05, rtol=0)
    assert chains.n_energy_evals == 20000 * 21
    # adaptation moves the step sizes towards the target acceptance; a saved state continues exactly
    small = MALAChains(target, x0[:64], step_size=1e-3)
    for _ in range(50):
        small.step(g)
    assert float(small.h.mean()) > 1e-3
    copy = MALAChains(target, torch.zeros(64, 2))
    copy.load_state_dict(small.state_dict())
    state = g.get_state()
    small.step(g)
    g.set_state(state)
    copy.step(g)
    torch.testing.assert_close(copy.x, small.x)
    assert copy.n_energy_evals == small.n_energy_evals
    with pytest.raises(ValueError, match=r"MALA chains state x"):
        copy.load_state_dict({**small.state_dict(), "x": torch.zeros(3, 2)})


def test_mala_function_is_the_chains_run_in_a_loop():
    target = make_target("funnel")
    x0 = 2 * torch.randn(100, 10, generator=torch.Generator().manual_seed(0))
    res = mala(target, x0, 30, step_size=0.05, generator=torch.Generator().manual_seed(1))
    chains, g = MALAChains(target, x0, 0.05), torch.Generator().manual_seed(1)
    for i in range(30):
        chains.step(g, adapt=i < 15)
    torch.testing.assert_close(res.samples, chains.x)
    assert res.n_energy_evals == chains.n_energy_evals == 100 * 31
