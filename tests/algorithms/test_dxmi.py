"""DxMI / DxDP / GCD maths: hand-computed soft-Bellman targets and a one-step chain with a known
Gaussian optimum."""

import math

import pytest
import torch

from dxmi.algorithms import GCD, DxMI, DxMIConfig
from dxmi.energies import GaussianEnergy, MLPEnergy
from dxmi.nets import TimeMLP
from dxmi.records import Trajectory
from dxmi.values import SigmoidTimeCost, TimeDependentValue
from tests.helpers import AffinePolicy, ConstantMeanPolicy, LinearValue


def test_soft_bellman_target_by_hand():
    T, D = 2, 1
    pol = ConstantMeanPolicy(T, D, sigma=0.5)
    with torch.no_grad():
        pol.log_sigma_free.copy_(torch.log(torch.tensor([0.5, 0.25])))
    val = LinearValue(T, D)
    with torch.no_grad():
        val.w.copy_(torch.tensor([[2.0], [3.0]]))
        val.c.copy_(torch.tensor([0.1, -0.2]))
    energy = GaussianEnergy(torch.tensor([1.0]), var=0.5)  # E(x) = (x - 1)^2
    cfg = DxMIConfig(batch_size=1, tau1=0.1, tau2=0.01, time_cost_kappa=0.0)
    algo = DxMI(pol, val, energy, cfg)
    states = torch.tensor([[[0.0]], [[0.4]], [[1.5]]])  # x_0, x_1, x_2 for one chain
    algo.buffer.store(Trajectory(states=states, log_sigma=pol.log_sigma.detach()))
    algo.s2 = torch.tensor([0.2, 0.05])
    # t = 1 (last): E(x_2) + tau2 (x_2 - x_1)^2 / (2 s_1^2) - tau1 log sigma_1
    t1 = (1.5 - 1.0) ** 2 + 0.01 * (1.1**2) / (2 * 0.05) - 0.1 * math.log(0.25)
    assert algo.value_target(algo.buffer.at(1)).item() == pytest.approx(t1, rel=1e-5)
    # t = 0: V(x_1, 1) + tau2 (x_1 - x_0)^2 / (2 s_0^2) - tau1 log sigma_0
    t0 = (3.0 * 0.4 - 0.2) + 0.01 * 0.16 / 0.4 - 0.1 * math.log(0.5)
    assert algo.value_target(algo.buffer.at(0)).item() == pytest.approx(t0, rel=1e-5)
    # the switches: no entropy/velocity inside the value (release image configs)
    algo.config.entropy_in_value = False
    algo.config.velocity_in_value = False
    assert algo.value_target(algo.buffer.at(0)).item() == pytest.approx(1.0, rel=1e-5)
    # skip the tau terms for the last k = 1 steps only
    algo.config.entropy_in_value = algo.config.velocity_in_value = True
    algo.config.value_skip_last_k = 1
    assert algo.value_target(algo.buffer.at(1)).item() == pytest.approx(0.25, rel=1e-5)
    assert algo.value_target(algo.buffer.at(0)).item() == pytest.approx(t0, rel=1e-5)
    # time cost: the telescoping sigmoid offset is added
    algo.config.value_skip_last_k = 0
    algo.time_cost = SigmoidTimeCost(T, 1.0)
    c = T // 2
    offset0 = 1 / (1 + math.exp(-(c - 0))) - 1 / (1 + math.exp(-(c - 1)))
    assert algo.value_target(algo.buffer.at(0)).item() == pytest.approx(t0 + offset0, rel=1e-5)


def test_adaptive_velocity_regularisation_is_an_ema_of_step_sizes():
    pol = ConstantMeanPolicy(2, 1)
    algo = DxMI(pol, LinearValue(2, 1), GaussianEnergy(torch.zeros(1), 1.0),
                DxMIConfig(batch_size=2, adavelreg=0.9))
    states = torch.tensor([[[0.0], [0.0]], [[1.0], [3.0]], [[1.0], [3.0]]])
    algo.buffer.store(Trajectory(states=states, log_sigma=pol.log_sigma.detach()))
    algo.s2 = torch.tensor([1.0, 1.0])
    algo._update_velocity_scale()
    # mean squared step: t = 0: (1 + 9) / 2 = 5; t = 1: 0
    assert torch.allclose(algo.s2, torch.tensor([0.9 + 0.1 * 5.0, 0.9]))


def _one_step_problem(update_cls, tau1: float, iters: int, lr: float = 1e-2, seed: int = 0):
    D, m, v = 2, torch.tensor([1.0, -2.0]), 0.5
    torch.manual_seed(seed)
    pol = ConstantMeanPolicy(T=1, D=D, sigma=1.0, fix_last=False)
    val = TimeDependentValue(TimeMLP(D, 1, hidden=32, depth=2), (D,), 1)
    energy = GaussianEnergy(m, v)
    cfg = DxMIConfig(batch_size=256, tau1=tau1, tau2=0.0, sampler_lr=lr, sigma_lr=lr, value_lr=3e-3,
                     sampler_grad_clip=None, value_grad_clip=None)
    algo = update_cls(pol, val, energy, cfg, generator=torch.Generator().manual_seed(seed))
    data = torch.zeros(256, D)
    for _ in range(iters):
        algo.update(data)
    return algo, pol, val, m, v, D


def test_dxdp_one_step_chain_reaches_the_closed_form_optimum():
    """T = 1, E(x) = ||x - m||^2 / (2 v), cost E(x_1) - tau1 log sigma:
    optimum b = m, sigma^2 = tau1 v / D; V(x, 0) = D sigma^2 / (2 v) - tau1 log sigma."""
    tau1 = 0.2
    algo, pol, val, m, v, D = _one_step_problem(DxMI, tau1, iters=800)
    sigma2 = tau1 * v / D
    assert torch.allclose(pol.b[0].detach(), m, atol=0.05)
    assert pol.log_sigma.exp()[0].item() ** 2 == pytest.approx(sigma2, rel=0.1)
    v0 = D * sigma2 / (2 * v) - tau1 * 0.5 * math.log(sigma2)
    x0 = pol.initial(512, torch.Generator().manual_seed(1))
    assert val(x0, torch.zeros(512, dtype=torch.long)).mean().item() == pytest.approx(v0, abs=0.05)


def test_without_entropy_the_policy_collapses():
    """tau1 = 0: nothing holds sigma up; it shrinks far below the max-ent optimum sqrt(tau1 v / D)."""
    algo, pol, *_ = _one_step_problem(DxMI, tau1=0.0, iters=600)
    s1 = pol.log_sigma.exp()[0].item()
    for _ in range(200):
        algo.update(torch.zeros(256, 2))
    s2 = pol.log_sigma.exp()[0].item()
    optimum_with_entropy = math.sqrt(0.2 * 0.5 / 2)
    assert s2 < s1 < 1.0
    assert s2 < 0.6 * optimum_with_entropy


def test_gcd_policy_gradient_also_finds_the_optimum_but_needs_its_baseline():
    tau1 = 0.2
    algo, pol, val, m, v, D = _one_step_problem(GCD, tau1, iters=1500, lr=1e-2)
    assert torch.allclose(pol.b[0].detach(), m, atol=0.15)
    assert pol.log_sigma.exp()[0].item() ** 2 == pytest.approx(tau1 * v / D, rel=0.3)


def test_energy_step_lowers_data_energy_relative_to_samples():
    pol = AffinePolicy(T=2, D=2, sigma=0.5)
    energy = MLPEnergy(2, hidden=32, depth=2)
    val = TimeDependentValue(TimeMLP(2, 1, hidden=16, depth=2), (2,), 2)
    algo = DxMI(pol, val, energy, DxMIConfig(batch_size=128, energy_lr=1e-2, sampler_steps=0))
    data = torch.randn(128, 2) * 0.1 + 3.0
    gap0 = None
    for _ in range(100):
        m = algo.update(data)
        gap0 = m["energy_model"] - m["energy_data"] if gap0 is None else gap0
    assert m["energy_model"] - m["energy_data"] > 0.5 > gap0


def test_update_rejects_wrong_batch():
    pol = AffinePolicy(T=2, D=2)
    algo = DxMI(pol, LinearValue(2, 2), MLPEnergy(2, hidden=8, depth=1), DxMIConfig(batch_size=8))
    with pytest.raises(ValueError, match=r"received \(8, 3\)"):
        algo.update(torch.zeros(8, 3))


def test_config_validation():
    with pytest.raises(ValueError, match="velocity_init"):
        DxMIConfig(velocity_init="nope")
    with pytest.raises(ValueError, match="tau1"):
        DxMIConfig(tau1=-1.0)


def test_policy_ema_tracks_the_online_policy():
    pol = ConstantMeanPolicy(T=1, D=2, sigma=1.0)
    algo = DxMI(pol, LinearValue(1, 2), GaussianEnergy(torch.tensor([1.0, -2.0]), 0.5),
                DxMIConfig(batch_size=64, policy_ema=0.9, sampler_lr=1e-2, tau2=0.0))
    assert algo.sampling_policy is algo.ema_policy
    for _ in range(200):
        algo.update(torch.zeros(64, 2))
    online, ema = pol.b.detach(), algo.ema_policy.b.detach()
    assert not torch.equal(online, ema)
    assert torch.allclose(online, ema, atol=0.1)
    assert not any(p.requires_grad for p in algo.ema_policy.parameters())


def test_preconditioning_weights_steps_by_inverse_gain():
    class GainPolicy(ConstantMeanPolicy):
        def mean_gain(self):
            return torch.tensor([4.0, 1.0])

    pol = GainPolicy(T=2, D=1, sigma=0.5)
    algo = DxMI(pol, LinearValue(2, 1), GaussianEnergy(torch.zeros(1), 1.0),
                DxMIConfig(batch_size=4000, precondition_steps=True, tau1=0.0, tau2=0.0))
    states = torch.zeros(3, 4000, 1)
    algo.buffer.store(Trajectory(states=states, log_sigma=pol.log_sigma.detach()))
    # V(x, 1) = 0 (w = c = 0) so only last-step transitions (weight 1/1 vs 1/4) carry E(x_2)
    loss, _ = algo.sampler_loss()
    w_last = 1.0 / (0.5 * (0.25 + 1.0))
    expected = 0.5 * w_last * 0.5 * (0.5**2)  # half the transitions are last-step, E[E(x_2)] = sigma^2 / 2
    assert loss.item() == pytest.approx(expected, rel=0.1)


def test_r1_penalty_is_half_r_times_the_mean_squared_data_gradient():
    """energy_r1 = r adds (r / 2) mean_i ||grad_x E(x_i)||^2 over the data batch to L_E: the reported
    penalty matches central finite differences of E, and the loss grows by exactly r / 2 times it."""
    default = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)  # finite differences to 1e-6
    try:
        torch.manual_seed(0)
        pol = AffinePolicy(T=2, D=3, sigma=0.5).double()
        energy = MLPEnergy(3, hidden=16, depth=2)
        data = torch.randn(8, 3)
        r = 4.0
        algo = DxMI(pol, LinearValue(2, 3), energy,
                    DxMIConfig(batch_size=8, gamma=0.0, energy_r1=r, sampler_steps=0))
        algo.buffer.store(pol.rollout(8, torch.Generator().manual_seed(1)))
        with torch.no_grad():  # before the step changes the energy
            h, eye = 1e-5, torch.eye(3)
            fd = torch.stack([(energy(data + h * eye[d]) - energy(data - h * eye[d])) / (2 * h)
                              for d in range(3)], 1)
            expected_r1 = (fd**2).sum(1).mean().item()
            contrastive = (energy(data).mean() - energy(algo.buffer.samples).mean()).item()
        m = algo.energy_step(data)
    finally:
        torch.set_default_dtype(default)
    assert m["energy_r1"] == pytest.approx(expected_r1, rel=1e-6)
    assert m["loss_energy"] - contrastive == pytest.approx(0.5 * r * expected_r1, rel=1e-6)
    with pytest.raises(ValueError, match="energy_r1"):
        DxMIConfig(energy_r1=-1.0)


def test_r1_penalty_flattens_the_energy_at_the_data():
    """Trained against a fixed sampler, an energy with r = 10 ends with a smaller data gradient than
    one without the penalty."""
    data = torch.randn(128, 2) * 0.3 + 1.0

    def data_grad_norm(r: float) -> float:
        torch.manual_seed(0)
        pol = AffinePolicy(T=2, D=2, sigma=1.0)
        energy = MLPEnergy(2, hidden=32, depth=2)
        val = TimeDependentValue(TimeMLP(2, 1, hidden=16, depth=2), (2,), 2)
        algo = DxMI(pol, val, energy, DxMIConfig(batch_size=128, energy_lr=1e-2, sampler_steps=0, energy_r1=r),
                    generator=torch.Generator().manual_seed(0))
        for _ in range(100):
            algo.update(data)
        x = data.clone().requires_grad_(True)
        (g,) = torch.autograd.grad(energy(x).sum(), x)
        return g.norm(dim=1).mean().item()

    assert data_grad_norm(10.0) < 0.5 * data_grad_norm(0.0)
