"""Local-search replay for VGS (dxmi.algorithms.vgs): the auxiliary chain run backwards and the
off-policy transitions it gives the value (energy budget, resume, learning)."""

import pytest
import torch

from dxmi.algorithms.ebm_vgs import VGSNegatives
from dxmi.algorithms.vgs import VGS, make_config
from dxmi.energies import MLPEnergy
from dxmi.targets import GaussianTarget, make_target
from tests.helpers import train_with_checkpoints

SMALL = ["num_steps=4", "net.hidden=16", "net.depth=2", "net.time_dim=8"]


def _sampler(variant, s2_start=0.5, s2_end=0.1, dim=3):
    cfg = make_config("gaussian", [*SMALL, f"variant={variant}", f"s2_start={s2_start}", f"s2_end={s2_end}"])
    return VGS(GaussianTarget(torch.zeros(dim), 1.0), cfg).sampler


def test_backward_path_vp_keeps_the_standard_normal():
    # VP: x_t = sqrt(1 - s_t^2) x_{t+1} + s_t eps, so N(0, I) at t = T stays N(0, I) at every t
    s = _sampler("vp")
    g = torch.Generator().manual_seed(0)
    path = s.backward_path(torch.randn(40000, 3, generator=g), g)
    assert path.shape == (5, 40000, 3)
    for t in range(4):
        torch.testing.assert_close(path[t].mean(0), torch.zeros(3), atol=0.03, rtol=0)
        torch.testing.assert_close(path[t].var(0), torch.ones(3), atol=0.04, rtol=0)


def test_backward_path_ve_adds_the_remaining_variance():
    # VE: x_t = x_T + sum_{k >= t} s_k eps_k: mean x_T, variance sum_{k >= t} s_k^2
    s = _sampler("ve", s2_start=0.8, s2_end=0.05)
    x_final = torch.tensor([1.0, -2.0, 0.5]).expand(40000, 3)
    path = s.backward_path(x_final, torch.Generator().manual_seed(1))
    torch.testing.assert_close(path[-1], x_final)
    s2 = s.schedule.s2
    for t in range(4):
        torch.testing.assert_close(path[t].mean(0), x_final[0], atol=0.03, rtol=0)
        want = torch.full((3,), float(s2[t:].sum()))
        torch.testing.assert_close(path[t].var(0), want, atol=0.05 * float(want[0]), rtol=0)


def test_backward_path_of_particles_stays_centred_and_checks_shapes():
    target = make_target("dw4")
    cfg = make_config("dw4", [*SMALL, "s2_start=0.3", "s2_end=0.01"])
    s = VGS(target, cfg).sampler
    x = target.project(torch.randn(64, 8))
    path = s.backward_path(x, torch.Generator().manual_seed(0))
    com = path.reshape(5, 64, 4, 2).mean(2)
    torch.testing.assert_close(com, torch.zeros_like(com), atol=1e-5, rtol=0)
    with pytest.raises(ValueError, match=r"backward_path"):
        s.backward_path(torch.zeros(4, 7))


@pytest.mark.parametrize("td", [[], ["td_lambda=0.5", "explore_noise=1.0"]], ids=["one_step_td", "td_lambda"])
def test_replay_energy_budget_and_resume(tmp_path, td):
    target = GaussianTarget(torch.zeros(2), 1.0)
    B, M, R = 8, 16, 2
    cfg = make_config("gaussian", [*SMALL, f"batch_size={B}", "iterations=4", f"replay_chains={M}",
                                   f"replay_steps={R}", *td])
    full = train_with_checkpoints(target, cfg, tmp_path / "a")
    # per iteration: 2 B (rollout and TD), R M MALA steps, M grad E at t = T - 1 and M TD energies;
    # once: the chains' starting energies
    assert full.n_energy_evals == M + cfg.iterations * (2 * B + R * M + 2 * M)
    train_with_checkpoints(target, cfg, tmp_path / "b", max_steps=2)
    resumed = train_with_checkpoints(target, cfg, tmp_path / "b")
    for p, q in zip(full.sampler.value.parameters(), resumed.sampler.value.parameters()):
        torch.testing.assert_close(p, q)
    assert full.replay is not None and resumed.replay is not None
    torch.testing.assert_close(full.replay.x, resumed.replay.x)
    assert full.n_energy_evals == resumed.n_energy_evals


def test_replay_options_are_checked():
    for bad in (["replay_chains=-1"], ["replay_steps=0"]):
        with pytest.raises(ValueError, match="replay"):
            make_config("gaussian", bad)
    cfg = make_config("gaussian", [*SMALL, "replay_chains=8"])
    with pytest.raises(ValueError, match="replay_chains must be 0 for EBM training"):
        VGSNegatives(MLPEnergy(2, hidden=8), 2, cfg)


def test_learned_sampler_with_replay_matches_a_gaussian():
    # few on-policy rollouts (B = 16) and most transitions from the replay chains' backward paths
    torch.manual_seed(0)
    m, sd = torch.tensor([0.3, -0.3]), torch.tensor([0.7, 1.0])
    cfg = make_config("gaussian", ["num_steps=5", "s2_start=1.0", "s2_end=0.2", "variant=ve", "batch_size=16",
                                   "replay_chains=112", "iterations=200", "value_lr=3e-3", "s_init=1.5",
                                   "s_init_lr=1e-2", "net.hidden=64", "net.depth=2", "net.time_dim=16",
                                   "td_batch=640", "ema=0.9", "explore_noise=1.1"])
    algo = VGS(GaussianTarget(m, sd), cfg)
    for _ in range(cfg.iterations):
        algo.update(None)
    x = algo.sampler.sample(8000, torch.Generator().manual_seed(3))
    torch.testing.assert_close(x.mean(0), m, atol=0.15, rtol=0)
    torch.testing.assert_close(torch.cov(x.T), torch.diag(sd**2), atol=0.2, rtol=0)
