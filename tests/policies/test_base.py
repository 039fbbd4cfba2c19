import pytest
import torch
from torch import nn

from dxmi.buffers import TrajectoryBuffer
from dxmi.nets import TimeMLP
from dxmi.policies import DDPMSubsequencePolicy
from dxmi.records import Trajectory
from dxmi.schedules import LinearBetaSchedule, UniformSubsequence
from dxmi.values import SigmoidTimeCost, TimeDependentValue
from helpers import AffinePolicy


def test_step_log_prob_matches_torch_distributions():
    pol = AffinePolicy(T=3, D=4)
    x = torch.randn(16, 4)
    t = torch.randint(0, 3, (16,))
    step = pol.step(x, t)
    expected = torch.distributions.Normal(pol.mean(x, t), pol.log_sigma[t].exp()[:, None]).log_prob(step.next_x).sum(1)
    assert torch.allclose(pol.log_prob(x, step.next_x, t), expected, atol=1e-5)


def test_fix_last_keeps_last_sigma_out_of_the_parameters():
    pol = AffinePolicy(T=3, D=2, sigma=0.3, fix_last=True)
    assert pol.log_sigma_free.shape == (2,)
    opt = torch.optim.SGD(pol.sigma_parameters(), lr=1.0)
    (-pol.log_sigma.sum()).backward()
    opt.step()
    assert pol.log_sigma[-1].item() == pytest.approx(torch.tensor(0.3).log().item())
    assert pol.log_sigma[0].item() > torch.tensor(0.3).log().item()
    free = AffinePolicy(T=3, D=2, fix_last=False)
    assert free.log_sigma_free.shape == (3,)


def test_rollout_is_reproducible_and_marginal_is_right():
    # a_t = 0.5, b = 0: x_{t+1} = 0.5 x_t + sigma eps -> Var x_T follows the recursion
    pol = AffinePolicy(T=3, D=2, sigma=0.5, fix_last=False)
    g1, g2 = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
    tr1, tr2 = pol.rollout(20000, g1), pol.rollout(20000, g2)
    assert torch.equal(tr1.states, tr2.states)
    var = 1.0
    for _ in range(3):
        var = 0.25 * var + 0.25
    assert tr1.samples.var(0).mean().item() == pytest.approx(var, rel=0.03)


def test_policy_rejects_bad_shapes_with_message():
    pol = AffinePolicy(T=2, D=3)
    with pytest.raises(ValueError, match=r"received \(4, 2\)"):
        pol.step(torch.zeros(4, 2), 0)


def test_ddpm_policy_mean_by_hand():
    base = LinearBetaSchedule()
    st = UniformSubsequence().build(base, 4)

    class ConstEps(nn.Module):
        def forward(self, x, k):
            return torch.ones_like(x)

    pol = DDPMSubsequencePolicy(ConstEps(), st, (2,))
    x = torch.full((1, 2), 0.7)
    t = torch.tensor([1])
    eta, ab = st.eta[1].item(), st.alpha_hat[1].item()
    expected = (0.7 - eta / (1 - ab) ** 0.5) / (1 - eta) ** 0.5
    assert torch.allclose(pol.mean(x, t), torch.full((1, 2), expected), atol=1e-5)


def test_time_cost_telescopes():
    T, kappa = 10, 1.0
    tc = SigmoidTimeCost(T, kappa)
    total = tc(torch.arange(T)).sum().item()
    c = T // 2
    s = lambda z: 1 / (1 + torch.exp(torch.tensor(-float(z)))).item()  # noqa: E731
    assert total == pytest.approx(kappa * (s(c) - s(c - T)), abs=1e-6)


def test_buffer_is_preallocated_and_samples_every_step():
    T, B = 4, 8
    buf = TrajectoryBuffer(T, B, (2,))
    ptr = buf.states.data_ptr()
    states = torch.arange((T + 1) * B * 2, dtype=torch.float32).reshape(T + 1, B, 2)
    buf.store(Trajectory(states=states, log_sigma=torch.zeros(T)))
    buf.store(Trajectory(states=states + 1, log_sigma=torch.zeros(T)))
    assert buf.states.data_ptr() == ptr
    batch = buf.sample(4000, torch.Generator().manual_seed(0))
    assert set(batch.t.tolist()) == set(range(T))
    # next_x is the successor of x in the same chain
    b = ((batch.x[:, 0] - 1) / 2 % B).long()
    assert torch.equal(batch.next_x, states[batch.t + 1, b] + 1)
    with pytest.raises(ValueError, match="does not fit"):
        buf.store(Trajectory(states=torch.zeros(T, B, 2), log_sigma=torch.zeros(T)))


def test_time_dependent_value_shapes():
    v = TimeDependentValue(TimeMLP(3, 1, hidden=16, depth=2), (3,), 4)
    out = v(torch.randn(5, 3), torch.tensor([0, 1, 2, 3, 0]))
    assert out.shape == (5,)
    with pytest.raises(ValueError, match="received x"):
        v(torch.randn(5, 2), torch.zeros(5, dtype=torch.long))


def test_fourier_features_are_fixed_and_deterministic():
    from dxmi.nets import FourierFeatures

    a, b = FourierFeatures(2, 8, scale=0.5, seed=3), FourierFeatures(2, 8, scale=0.5, seed=3)
    x = torch.randn(5, 2)
    assert torch.equal(a(x), b(x)) and a(x).shape == (5, 2 + 16)
    assert torch.equal(a(x)[:, :2], x)
    assert torch.allclose(a(x)[:, 2:10] ** 2 + a(x)[:, 10:] ** 2, torch.ones(5, 8), atol=1e-6)


def test_time_mlp_with_features_sees_the_features():
    """TimeMLP(features=phi) is TimeMLP on phi(x): its first layer takes phi's width, and two
    nets with the same weights but different feature maps disagree."""
    from dxmi.nets import FourierFeatures

    torch.manual_seed(0)
    a = TimeMLP(2, 1, hidden=16, depth=2, features=FourierFeatures(2, 8, scale=0.5, seed=1))
    b = TimeMLP(2, 1, hidden=16, depth=2, features=FourierFeatures(2, 8, scale=0.5, seed=2))
    b.load_state_dict({k: v for k, v in a.state_dict().items() if not k.endswith(".B")}, strict=False)
    assert a.inp.in_features == 2 + 16
    x, t = torch.randn(6, 2), torch.arange(6).float()
    assert a(x, t).shape == (6, 1)
    assert not torch.allclose(a(x, t), b(x, t))
    b.features.B.copy_(a.features.B)
    assert torch.allclose(a(x, t), b(x, t))


def test_value_net_fourier_features_come_from_the_config():
    from dxmi.config import load_config
    from dxmi.energies import MLPEnergy
    from dxmi.experiment import build_value

    cfg = load_config("2spirals", ["sampler.value_net.fourier_features=4", "sampler.value_net.fourier_scale=0.3"])
    v = build_value(cfg, 2, MLPEnergy(2, hidden=8, depth=2))
    assert isinstance(v, TimeDependentValue) and v.net.features.B.shape == (4, 2)
    assert torch.allclose(v.net.features.B.std(), torch.tensor(0.3), rtol=0.9)


def test_ddpm_policy_gain_by_hand():
    st = UniformSubsequence().build(LinearBetaSchedule(), 4)
    pol = DDPMSubsequencePolicy(nn.Identity(), st, (2,))
    eta, ab = st.eta, st.alpha_hat
    expected = eta / ((1 - ab).sqrt() * (1 - eta).sqrt())
    assert torch.allclose(pol.mean_gain().double(), expected, rtol=1e-5)
    assert pol.mean_gain()[0] > 5 * pol.mean_gain()[-1]  # the first steps amplify the network most
