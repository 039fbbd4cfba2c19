"""dxmi.baselines.tempering: the ladder, the swap move's acceptance rule, invariance of the target,
mixing between modes that plain MALA chains at the same budget cannot cross, and the evaluation count."""

import pytest
import torch

from dxmi.baselines import MALA, MALAChains, ParallelTempering, Sampler, mala_thinned, parallel_tempering
from dxmi.baselines.tempering import geometric_ladder, swap_neighbours
from dxmi.targets import DW4, GaussianMixture, GaussianTarget


def test_geometric_ladder():
    b = geometric_ladder(4, 8.0)
    torch.testing.assert_close(b, torch.tensor([1.0, 0.5, 0.25, 0.125]))
    assert geometric_ladder(1, 5.0).tolist() == [1.0]
    with pytest.raises(ValueError, match="t_max must be >= 1"):
        geometric_ladder(3, 0.5)
    with pytest.raises(ValueError, match="levels must be >= 1"):
        ParallelTempering(GaussianTarget(torch.zeros(2), 1.0), steps=10, levels=0)


def test_tempered_mala_chains_sample_the_tempered_density():
    # exp(-beta E) of N(m, sd^2) is N(m, sd^2 / beta): the chains at beta = 0.25 have twice the spread
    m, sd = torch.tensor([1.0, -1.0]), torch.tensor([0.5, 1.0])
    target = GaussianTarget(m, sd)
    g = torch.Generator().manual_seed(0)
    beta = torch.tensor([1.0, 0.25]).repeat_interleave(10000)
    x0 = m + sd * torch.randn(20000, 2, generator=g) / beta.sqrt()[:, None]
    chains = MALAChains(target, x0, step_size=0.1, beta=beta)
    for _ in range(20):
        chains.step(g, adapt=False)
    torch.testing.assert_close(chains.x[:10000].std(0), sd, atol=0.04, rtol=0)
    torch.testing.assert_close(chains.x[10000:].std(0), 2 * sd, atol=0.08, rtol=0)
    torch.testing.assert_close(chains.x.mean(0), m, atol=0.05, rtol=0)
    with pytest.raises(ValueError, match="MALA chains beta"):
        MALAChains(target, x0, beta=torch.ones(3))
    with pytest.raises(ValueError, match="must be > 0"):
        MALAChains(target, x0[:2], beta=torch.tensor([1.0, 0.0]))


def _chains_with_energies(e_cold: float, e_hot: float) -> MALAChains:
    """One ladder of two replicas on E(x) = x_0 (so the energy of a state is its first coordinate)."""
    from dxmi.targets import from_callable
    target = from_callable(lambda x: x[:, 0], 2, "linear")
    x0 = torch.tensor([[e_cold, 1.0], [e_hot, 2.0]])
    return MALAChains(target, x0, beta=torch.tensor([1.0, 0.5]))


def test_swap_acceptance_is_the_replica_exchange_ratio():
    # cold replica above the hot one in energy: (1 - 0.5) (E_cold - E_hot) > 0, always swapped
    ch = _chains_with_energies(3.0, 1.0)
    acc = swap_neighbours(ch, ladders=1, levels=2, parity=0, generator=torch.Generator().manual_seed(0))
    assert acc.tolist() == [[True]]
    torch.testing.assert_close(ch.x, torch.tensor([[1.0, 2.0], [3.0, 1.0]]))
    torch.testing.assert_close(ch.energy, torch.tensor([1.0, 3.0]))  # the cached energies travel with the states
    assert ch.beta[:, 0].tolist() == [1.0, 0.5]  # temperatures stay with the levels
    # odd parity with two levels proposes no pair
    assert swap_neighbours(ch, 1, 2, parity=1).tolist() == [[False]]
    # cold replica below: accepted with probability exp(0.5 * (0 - 2)) = e^-1, measured over many ladders
    n = 20000
    from dxmi.targets import from_callable
    target = from_callable(lambda x: x[:, 0], 2, "linear")
    x0 = torch.cat([torch.tensor([[0.0, 0.0]]).expand(n, 2), torch.tensor([[2.0, 0.0]]).expand(n, 2)])
    ch = MALAChains(target, x0, beta=torch.tensor([1.0, 0.5]).repeat_interleave(n))
    acc = swap_neighbours(ch, ladders=n, levels=2, parity=0, generator=torch.Generator().manual_seed(1))
    assert acc.float().mean().item() == pytest.approx(torch.e ** -1, abs=0.015)


def test_one_level_is_long_mala_chains():
    target = GaussianTarget(torch.tensor([2.0, -1.0]), 0.5)
    x0 = torch.randn(10, 2, generator=torch.Generator().manual_seed(0))
    pt = parallel_tempering(target, x0, 200, n_keep=300, levels=1, step_size=0.05,
                            generator=torch.Generator().manual_seed(1))
    ref = mala_thinned(target, x0, 200, n_keep=300, step_size=0.05, generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(pt.samples, ref.samples)
    assert pt.n_energy_evals == ref.n_energy_evals == 10 * 201 and pt.swap_acceptance == ()


def test_tempering_keeps_the_target_and_counts_every_replica():
    m = torch.tensor([2.0, -1.0, 0.5])
    target = GaussianTarget(m, 0.5)
    sampler = ParallelTempering(target, steps=1000, chains=20, levels=4, t_max=4.0, step_size=0.05, init=1.0)
    assert isinstance(sampler, Sampler)
    r = sampler.sample(1000, torch.Generator().manual_seed(0))
    assert r.samples.shape == (1000, 3) and r.n_energy_evals == 20 * 4 * 1001
    torch.testing.assert_close(r.samples.mean(0), m, atol=0.08, rtol=0)
    assert r.samples.std(0).mean().item() == pytest.approx(0.5, rel=0.1)
    assert len(r.betas) == 4 and len(r.swap_acceptance) == 3
    assert all(0.2 < a < 1.0 for a in r.swap_acceptance)
    with pytest.raises(ValueError, match="cannot give"):
        parallel_tempering(target, torch.zeros(8, 3), 10, n_keep=100, levels=4)
    with pytest.raises(ValueError, match=r"x0 must be \(C \* 4, D\)"):
        parallel_tempering(target, torch.zeros(7, 3), 10, n_keep=2, levels=4)


def test_tempering_crosses_a_barrier_that_mala_chains_do_not():
    # two modes 8 apart with std 0.5 (barrier ~ 32 nats); every chain starts in the left one
    target = GaussianMixture(torch.tensor([[-4.0, 0.0], [4.0, 0.0]]), 0.5)
    start = torch.tensor([-4.0, 0.0]) + 0.1 * torch.randn(64, 2, generator=torch.Generator().manual_seed(0))
    budget = 64 * 1501
    pt = ParallelTempering(target, steps=budget // 64 - 1, chains=8, levels=8, t_max=100.0, step_size=0.05,
                           init=start).sample(800, torch.Generator().manual_seed(1))
    ml = MALA(target, steps=budget // 64 - 1, step_size=0.05, init=start, chains=64).sample(
        800, torch.Generator().manual_seed(1))
    assert pt.n_energy_evals == ml.n_energy_evals == budget
    right_pt = (pt.samples[:, 0] > 0).float().mean().item()
    right_ml = (ml.samples[:, 0] > 0).float().mean().item()
    assert right_ml == 0.0
    assert right_pt == pytest.approx(0.5, abs=0.15)


def test_tempering_keeps_particles_centred():
    r = ParallelTempering(DW4(), steps=20, chains=4, levels=3, t_max=5.0, init=2.0).sample(
        8, torch.Generator().manual_seed(0))
    assert r.samples.reshape(8, 4, 2).mean(1).abs().max().item() < 1e-5
