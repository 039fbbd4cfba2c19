"""TD(lambda) targets of VGS (dxmi.algorithms.vgs): the config's checks, and Bellman consistency on a
linear-Gaussian chain (the return recursion itself: tests/values/test_returns.py)."""

import math

import pytest
import torch

from dxmi.algorithms.vgs import VGS, make_config
from dxmi.config import ConfigError
from dxmi.samplers import ValueGradientSampler, VGSSchedule
from dxmi.targets import GaussianTarget
from dxmi.values.base import ValueFunction
from tests.helpers import QuadraticValue


def test_config_requires_on_policy_rollouts_and_a_valid_lambda():
    with pytest.raises(ConfigError, match="explore_noise=1.0"):
        make_config("gmm", ["td_lambda=0.3"])  # the GMM preset explores with noise x1.2
    with pytest.raises(ConfigError, match="td_lambda must be in"):
        make_config("gmm", ["td_lambda=2", "explore_noise=1.0"])
    assert make_config("gmm", ["td_lambda=0.3", "explore_noise=1.0"]).td_lambda == 0.3


class TrainableQuadratic(QuadraticValue):
    """QuadraticValue with one unused parameter, so that VGS can build its optimiser around it."""

    def __init__(self, *args):
        super().__init__(*args)
        self.unused = torch.nn.Parameter(torch.zeros(()))


class PolicyValue(ValueFunction):
    """The exact value V^pi(x, t) = a_t ||x - m||^2 + b_t of the VE chain driven by a QuadraticValue
    (drift mu_t = -k_t (x_t - m), k_t = s_t^2 / v_{t+1}; tau = 1), from the recursion
    a_T = 1 / (2 sigma^2), b_T = 0; a_t = k_t^2 / (2 s_t^2) + a_{t+1} (1 - k_t)^2, b_t = b_{t+1} + a_{t+1} D s_t^2."""

    def __init__(self, dim, sched, quad, mean, var):
        super().__init__((dim,), sched.num_steps)
        T = sched.num_steps
        a, b = [1 / (2 * var)], [0.0]
        for t in reversed(range(T)):
            s2 = sched.s2[t].item()
            k = s2 / quad.v[t + 1].item()
            a.insert(0, k * k / (2 * s2) + a[0] * (1 - k) ** 2)
            b.insert(0, b[0] + a[1] * dim * s2)
        self.a, self.b, self.m = torch.tensor(a), torch.tensor(b), mean

    def value(self, x, t):
        return self.a[t] * ((x - self.m) ** 2).sum(1) + self.b[t]


@pytest.mark.parametrize("lam", [0.0, 0.5, 1.0])
def test_lambda_targets_are_unbiased_for_the_policy_value(lam):
    # From a fixed start x_0 = 0, E[G_t^lambda] = V^pi(x_0, 0) for every lambda when the bootstrap is V^pi.
    m, sd = torch.tensor([1.0, -0.5, 0.0]), 0.6
    target = GaussianTarget(m, sd)
    sched = VGSSchedule(6, 0.3, 0.05, "quad", "ve")
    quad = TrainableQuadratic(3, sched, m, sd**2)
    sampler = ValueGradientSampler(quad, target, sched, s_init=1e-6)
    cfg = make_config("gaussian", ["num_steps=6", "variant=ve", f"td_lambda={lam}", "explore_noise=1.0"])
    algo = VGS(target, cfg, sampler=sampler)
    exact = PolicyValue(3, sched, quad, m, sd**2)
    algo.value_target = exact
    n = 40000
    roll = sampler.rollout(n, torch.Generator().manual_seed(0))
    y, e_final = algo._lambda_targets(roll, torch.arange(6).repeat_interleave(n), lam)
    g0 = y[:n]  # t = 0 comes first
    v0 = exact(torch.zeros(1, 3), torch.zeros(1, dtype=torch.long)).item()
    assert v0 == pytest.approx(float(exact.a[0]) * float((m**2).sum()) + float(exact.b[0]))
    se = g0.std().item() / math.sqrt(n)
    assert abs(g0.mean().item() - v0) < 4 * se + 1e-3, (g0.mean().item(), v0, se)
    torch.testing.assert_close(e_final, target(roll.samples))
