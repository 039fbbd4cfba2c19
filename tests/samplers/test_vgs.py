"""dxmi.samplers.vgs: the value-gradient sampler on Gaussian targets with closed-form values, log Z
from path weights, per-coordinate initial scales, the log energy clip."""

import math

import pytest
import torch

from dxmi.samplers import ValueGradientSampler, VGSSchedule
from dxmi.targets import GaussianTarget, GridGMM
from dxmi.values.base import ValueFunction
from tests.helpers import QuadraticValue


def _analytic_marginal(sched, value, s_init, tau=1.0):
    """Mean and variance (isotropic) of x_T under the VGS chain with the quadratic value."""
    T = sched.num_steps
    mean, var = torch.zeros_like(value.m[0]), s_init**2
    for t in range(T):
        a, s2 = sched.alpha[t].item(), sched.s2[t].item()
        k = s2 * a * a / (tau * value.v[t + 1].item())  # drift = -k (a x - m_{t+1})
        mean = a * mean - k * (a * mean - value.m[t + 1])
        var = (a * (1 - k)) ** 2 * var + s2 * a * a
    return mean, var


@pytest.mark.parametrize("variant", ["ve", "vp"])
def test_closed_form_gaussian_value_gives_the_target(variant):
    m, sd = torch.tensor([1.0, -2.0]), 0.7
    target = GaussianTarget(m, sd)
    sched = VGSSchedule(10, 0.1, 0.01, "quad", variant)
    value = QuadraticValue(2, sched, m, sd**2)
    s_init = math.sqrt(value.v[0].item())  # the optimal initial scale (up to the mean shift)
    sampler = ValueGradientSampler(value, target, sched, s_init=s_init)
    # drift = -(s^2 alpha^2 / tau) grad V(alpha x, t + 1), grad V = (y - m_{t+1}) / v_{t+1}
    x = torch.randn(5, 2)
    a = sched.alpha[3]
    expected = -(sched.s2[3] * a * a) * (a * x - value.m[4]) / value.v[4]
    torch.testing.assert_close(sampler.drift(x, 3), expected, rtol=1e-5, atol=1e-6)
    roll = sampler.rollout(20000, torch.Generator().manual_seed(0))
    mean, var = _analytic_marginal(sched, value, s_init)
    torch.testing.assert_close(roll.samples.mean(0), mean.float(), atol=0.03, rtol=0)
    assert roll.samples.var(0).mean().item() == pytest.approx(var, rel=0.04)
    # x_0 is centred at 0, so even the exact optimal policy ends at E[x_T | x_0 = 0] of the auxiliary
    # joint, m (1 - sigma^2 / (A^2 v_0)) with A = prod alpha_t; the linearised VGS drift lands near it,
    # and its variance near sigma^2.
    big_a = float(torch.prod(sched.alpha))
    exact_mean = m * (1 - sd**2 / (big_a**2 * value.v[0].item()))
    torch.testing.assert_close(mean.float(), exact_mean, atol=0.1, rtol=0)
    assert var == pytest.approx(sd**2, rel=0.1)


@pytest.mark.parametrize("variant", ["ve", "vp"])
def test_path_weights_estimate_log_z(variant):
    # centred target, optimal value and initial scale: the path weights are nearly constant.
    sd = 0.7
    target = GaussianTarget(torch.zeros(3), sd)
    sched = VGSSchedule(10, 0.1, 0.01, "quad", variant)
    value = QuadraticValue(3, sched, torch.zeros(3), sd**2)
    sampler = ValueGradientSampler(value, target, sched, s_init=math.sqrt(value.v[0].item()))
    roll = sampler.rollout(20000, torch.Generator().manual_seed(0))
    assert roll.log_z() == pytest.approx(target.log_z, abs=0.05)
    assert 0.8 < roll.ess() <= 1.0


def test_one_step_exact_when_step_variance_equals_target_variance():
    # T = 1, VE, s^2 = sigma^2: x_1 = x_0 - s^2 (x_0 - m)/sigma^2 + s eps = m + sigma eps exactly.
    m, sd = torch.tensor([3.0, 0.0, -1.0]), 0.5
    target = GaussianTarget(m, sd)
    sched = VGSSchedule(1, sd**2, sd**2, "constant", "ve")
    value = QuadraticValue(3, sched, m, sd**2)
    x = ValueGradientSampler(value, target, sched, s_init=2.0).sample(20000, torch.Generator().manual_seed(1))
    torch.testing.assert_close(x.mean(0), m, atol=0.02, rtol=0)
    torch.testing.assert_close(x.std(0), torch.full((3,), sd), atol=0.01, rtol=0)


class MixtureValue(ValueFunction):
    """Optimal value of a Gaussian-mixture target under a VE auxiliary chain (tau = 1):
    V*(x, t) = -log sum_k w_k N(x; m_k, v_t I), v_t = sigma^2 + sum_{j >= t} s_j^2."""

    def __init__(self, target, sched):
        super().__init__((target.dim,), sched.num_steps)
        tail = torch.flip(torch.cumsum(torch.flip(sched.s2, [0]), 0), [0])  # sum_{j >= t} s_j^2
        self.v = torch.cat([tail, torch.zeros(1)]) + target.std_value**2
        self.target = target

    def value(self, x, t):
        sd = self.v[t].sqrt()[:, None, None]
        z = (x[:, None, :] - self.target.means[None]) / sd
        comp = (-0.5 * z * z - torch.log(sd) - 0.5 * math.log(2 * math.pi)).sum(-1)
        return -torch.logsumexp(comp + self.target.log_w, dim=1)


def test_path_weight_log_z_on_the_normalised_gmm():
    # VGS path weights with the (closed-form) optimal value on the 9-mode GMM: log Z ~ 0.
    target = GridGMM()
    sched = VGSSchedule(20, 2.0, 0.05, "quad", "ve")
    value = MixtureValue(target, sched)
    # x_0 scale: the per-coordinate variance of the auxiliary marginal at t = 0 (v_0 + var of the means)
    s_init = math.sqrt(value.v[0].item() + (target.means**2).mean().item())
    sampler = ValueGradientSampler(value, target, sched, s_init=s_init)
    roll = sampler.rollout(20000, torch.Generator().manual_seed(0))
    assert roll.log_z() == pytest.approx(0.0, abs=0.1)
    assert roll.ess() > 0.05


class DiagQuadraticValue(ValueFunction):
    """The optimal value of a centred Gaussian with per-coordinate variances (VE chain):
    V*(x, t) = sum_d x_d^2 / (2 v_{t,d}), v_{t,d} = sigma_d^2 + sum_{j >= t} s_j^2."""

    def __init__(self, var, sched):
        super().__init__((var.shape[0],), sched.num_steps)
        tail = torch.flip(torch.cumsum(torch.flip(sched.s2, [0]), 0), [0])
        self.v = torch.cat([tail, torch.zeros(1)])[:, None] + var[None]  # (T + 1, D)

    def value(self, x, t):
        return (x * x / (2 * self.v[t])).sum(1)


def test_per_coordinate_initial_scale_makes_the_path_weights_constant():
    # Anisotropic Gaussian, exact value: with s_init_d = sqrt(v_{0,d}) the start is the auxiliary
    # marginal at t = 0, so log Z is right and the weights nearly constant; one shared scale cannot do that.
    sd = torch.tensor([0.3, 1.0, 3.0])
    target = GaussianTarget(torch.zeros(3), sd)
    sched = VGSSchedule(10, 0.1, 0.01, "quad", "ve")
    value = DiagQuadraticValue(sd**2, sched)
    per_dim = ValueGradientSampler(value, target, sched, s_init_per_dim=True)
    with torch.no_grad():
        per_dim.log_s_init.copy_(0.5 * torch.log(value.v[0]))
    assert per_dim.log_det_init().item() == pytest.approx(0.5 * torch.log(value.v[0]).sum().item(), rel=1e-6)
    roll = per_dim.rollout(20000, torch.Generator().manual_seed(0))
    assert roll.log_z() == pytest.approx(target.log_z, abs=0.03)
    ess = roll.ess()
    assert ess > 0.7  # not 1: the drift linearises the chain's posterior step (s_t^2 is not small vs 0.3^2)
    torch.testing.assert_close(roll.samples.std(0), sd, rtol=0.1, atol=0)  # same linearisation
    shared = ValueGradientSampler(value, target, sched, s_init=float(value.v[0].prod() ** (1 / 6)))
    assert shared.log_s_init.dim() == 0
    assert shared.rollout(20000, torch.Generator().manual_seed(0)).ess() < 0.5 * ess


def test_per_coordinate_initial_scale_is_refused_for_particles():
    from dxmi.targets import make_target

    target = make_target("dw4")
    sched = VGSSchedule(3, 0.1, 0.01, "quad", "ve")
    with pytest.raises(ValueError, match="rotation"):
        ValueGradientSampler(DiagQuadraticValue(torch.ones(8), sched), target, sched, s_init_per_dim=True)


def test_log_energy_clip_is_continuous_monotone_and_keeps_a_gradient():
    """``energy_clip_kind="log"``: E below the level c unchanged, c + log(1 + E - c) above it (so
    d/dE = 1 / (1 + E - c) > 0), where the release's hard clamp has zero gradient."""
    target = GaussianTarget(torch.zeros(2), torch.ones(2))  # E = ||x||^2 / 2 + const
    sched = VGSSchedule(2, 0.1, 0.01, "quad", "ve")
    value = QuadraticValue(2, sched, torch.zeros(2), 1.0)
    c = 2.0
    soft = ValueGradientSampler(value, target, sched, energy_clip=c, energy_clip_kind="log")
    hard = ValueGradientSampler(value, target, sched, energy_clip=c)
    x = torch.tensor([[0.5, 0.0], [3.0, 4.0], [30.0, 40.0]], requires_grad=True)
    e = target(x).detach()
    es = soft.clipped_energy(x)
    assert torch.allclose(es[0], e[0])  # below the level: untouched
    assert torch.allclose(es[1:], c + torch.log1p(e[1:] - c))  # above it: log-compressed
    assert es[1] < es[2]  # still ordered far above the level
    (g,) = torch.autograd.grad(es[2], x)
    # d/dx [c + log(1 + E - c)] = grad E / (1 + E - c), with grad E = x for this target
    assert torch.allclose(g[2], x[2].detach() / (1 + e[2] - c))
    (gh,) = torch.autograd.grad(hard.clipped_energy(x)[2], x)
    assert float(gh.abs().sum()) == 0.0
    # continuous at the level
    y = torch.tensor([[2.0, 0.0]])  # E = 2 + const; check around E = c by moving c to E(y)
    at = ValueGradientSampler(value, target, sched, energy_clip=float(target(y)), energy_clip_kind="log")
    assert torch.allclose(at.clipped_energy(y * 1.0001), target(y), atol=1e-3)
    with pytest.raises(ValueError, match="energy_clip_kind"):
        ValueGradientSampler(value, target, sched, energy_clip=c, energy_clip_kind="soft")


# -- the sampler is a Gaussian policy -----------------------------------------------------------


def _gaussian_sampler(variant="vp", T=5, D=3, **kw):
    m, sd = torch.linspace(-1.0, 1.0, D), 0.8
    sched = VGSSchedule(T, 0.3, 0.05, "quad", variant)
    return ValueGradientSampler(QuadraticValue(D, sched, m, sd**2), GaussianTarget(m, sd), sched, **kw)


def _particle_sampler(T=4):
    from dxmi.samplers import VGSValue
    from dxmi.targets import make_target

    target = make_target("dw4")
    sched = VGSSchedule(T, 0.3, 0.05, "quad", "ve")
    value = VGSValue(target.dim, T, hidden=16, depth=2, time_dim=8, features="distances", particles=target.particles)
    return ValueGradientSampler(value, target, sched, s_init=1.5)


@pytest.mark.parametrize("variant", ["ve", "vp"])
def test_the_sampler_is_a_gaussian_policy_with_the_schedules_fixed_stds(variant):
    from dxmi.policies import GaussianPolicy

    sampler = _gaussian_sampler(variant)
    assert isinstance(sampler, GaussianPolicy)
    assert sampler.num_steps == 5 and sampler.sample_shape == (3,)
    # sigma_t = s_t alpha_t from the schedule, not learned: no free log-stds, none with a gradient
    assert sampler.log_sigma_free.numel() == 0 and not sampler.log_sigma_free.requires_grad
    t = torch.arange(5)
    assert torch.equal(sampler.sigma_at(t), sampler.schedule.sigma)
    torch.testing.assert_close(sampler.log_sigma, sampler.schedule.sigma.log(), rtol=0, atol=0)
    assert [p for p in sampler.parameters() if p.requires_grad] == [sampler.log_s_init, *sampler.value.parameters()]


@pytest.mark.parametrize("variant", ["ve", "vp"])
def test_policy_step_is_alpha_x_plus_the_value_gradient_drift(variant):
    sampler = _gaussian_sampler(variant)
    g = torch.Generator().manual_seed(0)
    x, noise = torch.randn(6, 3, generator=g), torch.randn(6, 3, generator=g)
    for t in range(sampler.num_steps):
        st = sampler.step(x, t, noise=noise)
        mu = sampler.drift(x, t)
        a = sampler.schedule.alpha[t]
        assert torch.equal(st.mean, a * x + mu)
        assert torch.equal(st.sigma, sampler.schedule.sigma[t].expand(6))
        # the same arithmetic as the step given the drift (which training uses): bit for bit
        assert torch.equal(st.next_x, sampler.step_given_drift(x, mu, t, noise))
    # the mean of a batch of mixed times, one time at a time
    tt = torch.tensor([0, 4, 2, 4, 0, 1])
    mixed = sampler.mean(x, tt)
    for i in range(6):
        torch.testing.assert_close(mixed[i:i + 1], sampler.mean(x[i:i + 1], tt[i:i + 1]), rtol=1e-6, atol=1e-6)
    with pytest.raises(ValueError, match="unconditional"):
        sampler.mean(x, tt, torch.zeros(6, dtype=torch.long))


def test_log_prob_of_its_own_step_is_the_gaussian_density():
    sampler = _gaussian_sampler("vp")
    g = torch.Generator().manual_seed(1)
    x = torch.randn(32, 3, generator=g)
    t = torch.randint(0, sampler.num_steps, (32,), generator=g)
    st = sampler.step(x, t, generator=g)
    normal = torch.distributions.Normal(sampler.mean(x, t), sampler.schedule.sigma[t][:, None])
    torch.testing.assert_close(sampler.log_prob(x, st.next_x, t), normal.log_prob(st.next_x).sum(1),
                               rtol=1e-5, atol=1e-4)


def test_particle_step_and_log_prob_live_on_the_com_free_subspace():
    sampler = _particle_sampler()
    target = sampler.target
    n, d = target.particles
    g = torch.Generator().manual_seed(2)
    x = sampler.initial(16, g)
    noise = torch.randn(16, target.dim, generator=g)
    st = sampler.step(x, 1, noise=noise)
    assert st.next_x.reshape(16, n, d).sum(1).abs().max() < 1e-5
    # density of a (n - 1) d dimensional Gaussian of the projected noise
    sig = sampler.schedule.sigma[1]
    pn = target.project(noise)
    expected = -0.5 * (pn * pn).sum(1) - target.effective_dim * (torch.log(sig) + 0.5 * math.log(2 * math.pi))
    t = torch.full((16,), 1)
    torch.testing.assert_close(sampler.log_prob(x, st.next_x, t), expected, rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize("variant", ["ve", "vp"])
def test_rollout_is_the_policys_chain_and_its_weights_are_the_policys_densities(variant):
    sampler = _gaussian_sampler(variant)
    roll = sampler.rollout(64, torch.Generator().manual_seed(3))
    # the same chain, step by step through the inherited GaussianPolicy.step, from the same generator
    g = torch.Generator().manual_seed(3)
    x = sampler.initial(64, g)
    assert torch.equal(roll.states[0], x)
    for t in range(sampler.num_steps):
        st = sampler.step(x, t, generator=g)
        assert torch.equal(st.next_x, roll.states[t + 1])
        assert torch.equal(st.mean, sampler.schedule.alpha[t] * x + roll.drifts[t])
        x = st.next_x
    # log w = -E(x_T) + sum_t log q~(x_t | x_{t+1}) - log pi(x_0) - sum_t log pi(x_{t+1} | x_t)
    s0, D = sampler.s_init, sampler.eff_dim
    log_w = 0.5 * ((roll.states[0] / s0) ** 2).sum(1) + D * torch.log(s0) + 0.5 * D * math.log(2 * math.pi)
    log_w = log_w - sampler.target(roll.samples)
    for t in range(sampler.num_steps):
        tt = torch.full((64,), t)
        xt, nxt = roll.states[t], roll.states[t + 1]
        q = torch.distributions.Normal(nxt / sampler.schedule.alpha[t], sampler.schedule.s2[t].sqrt())
        log_w = log_w + q.log_prob(xt).sum(1) - sampler.log_prob(xt, nxt, tt)
    torch.testing.assert_close(roll.log_w, log_w, rtol=1e-4, atol=1e-3)


def test_rollout_writes_into_a_trajectory_buffer():
    from dxmi.buffers import TrajectoryBuffer
    from dxmi.records import Trajectory

    sampler = _particle_sampler()
    buf = TrajectoryBuffer(sampler.num_steps, 10, sampler.sample_shape)
    roll = sampler.rollout(10, torch.Generator().manual_seed(4), out=buf.slots(10), noise_scale=1.2, weights=False)
    assert isinstance(roll, Trajectory) and roll.states.data_ptr() == buf.states.data_ptr()
    buf.store(roll)
    again = sampler.rollout(10, torch.Generator().manual_seed(4), noise_scale=1.2, weights=False)
    assert torch.equal(buf.states, again.states) and torch.equal(roll.drifts, again.drifts)
    batch = buf.transitions()
    assert torch.equal(batch.x, again.states[:-1].reshape(-1, sampler.dim))
    torch.testing.assert_close(roll.log_sigma, sampler.schedule.sigma.log(), rtol=0, atol=0)
    # from a given start, and the errors
    x0 = sampler.initial(10, torch.Generator().manual_seed(5))
    assert torch.equal(sampler.rollout(10, x0=x0, weights=False).states[0], x0)
    with pytest.raises(ValueError, match="unconditional"):
        sampler.rollout(10, y=torch.zeros(10, dtype=torch.long))
    with pytest.raises(ValueError, match="out must be"):
        sampler.rollout(10, out=torch.empty(sampler.num_steps, 10, sampler.dim))
