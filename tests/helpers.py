"""Small analytic parts and tiny algorithms shared by the tests (imported as ``tests.helpers``)."""

from __future__ import annotations

import torch
from torch import nn

from dxmi.algorithms import SAMPLER_UPDATES, DxMI, DxMIConfig
from dxmi.algorithms.base import Algorithm
from dxmi.algorithms.vgs import VGS, no_data
from dxmi.energies import Energy, MLPEnergy
from dxmi.nets import TimeMLP
from dxmi.policies import DDPMSubsequencePolicy, GaussianPolicy
from dxmi.schedules import LinearBetaSchedule, make_subsequence
from dxmi.training.loop import Trainer
from dxmi.values import SharedEnergyValue, TimeDependentValue, ValueFunction


class ConstantMeanPolicy(GaussianPolicy):
    """mu(x, t) = b_t (ignores x)."""

    def __init__(self, T: int, D: int, sigma: float = 1.0, fix_last: bool = False):
        super().__init__((D,), [sigma] * T, fix_last=fix_last)
        self.b = nn.Parameter(torch.zeros(T, D))

    def mean(self, x, t, y=None):
        return self.b[t] + 0 * x


class AffinePolicy(GaussianPolicy):
    """mu(x, t) = a_t x + b_t."""

    def __init__(self, T: int, D: int, sigma: float = 0.5, fix_last: bool = True):
        super().__init__((D,), [sigma] * T, fix_last=fix_last)
        self.a = nn.Parameter(torch.full((T,), 0.5))
        self.b = nn.Parameter(torch.zeros(T, D))

    def mean(self, x, t, y=None):
        return self.a[t][:, None] * x + self.b[t]


class LinearValue(ValueFunction):
    """V(x, t) = w_t . x + c_t."""

    def __init__(self, T: int, D: int):
        super().__init__((D,), T)
        self.w = nn.Parameter(torch.zeros(T, D))
        self.c = nn.Parameter(torch.zeros(T))

    def value(self, x, t):
        return (self.w[t] * x).sum(1) + self.c[t]


class ClassConstantMeanPolicy(GaussianPolicy):
    """Class-conditional mu(x, t, y) = b_{t, y} (ignores x); y None is the null class K."""

    def __init__(self, T: int, D: int, K: int, sigma: float = 1.0, fix_last: bool = False):
        super().__init__((D,), [sigma] * T, fix_last=fix_last)
        self.K = K
        self.b = nn.Parameter(torch.zeros(T, K + 1, D))

    @property
    def num_classes(self):
        return self.K

    def mean(self, x, t, y=None):
        y = torch.full_like(t, self.K) if y is None else y
        return self.b[t, y] + 0 * x


class ClassGaussianEnergy(Energy):
    """A fixed class-conditional energy E(x | y) = ||x - c_y||^2 / (2 v) (no parameters)."""

    def __init__(self, centers: torch.Tensor, v: float):
        super().__init__((centers.shape[1],))
        self.register_buffer("centers", centers.clone())
        self.v = v

    @property
    def num_classes(self):
        return self.centers.shape[0]

    def energy(self, x):
        return (x**2).sum(1) / (2 * self.v)

    def conditional_energy(self, x, y):
        return ((x - self.centers[y]) ** 2).sum(1) / (2 * self.v)


def randomise_output(net):
    """A fresh UNet predicts 0 (zero-initialised output and residual convolutions); give them weights."""
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        net.conv_out.weight.copy_(0.1 * torch.randn(net.conv_out.weight.shape, generator=g))
        for m in net.modules():
            if isinstance(m, nn.Conv2d) and bool((m.weight == 0).all()):
                m.weight.copy_(0.05 * torch.randn(m.weight.shape, generator=g))
    return net


class QuadraticValue(ValueFunction):
    """The optimal value of a Gaussian target with a Gaussian auxiliary chain (tau = 1):
    V*(x, t) = ||x - m_t||^2 / (2 v_t) up to a constant, with m_T = m, v_T = sigma^2 and
    m_t = m_{t+1} / alpha_t, v_t = v_{t+1} / alpha_t^2 + s_t^2 (the marginals of q~)."""

    def __init__(self, dim, sched, mean, var):
        super().__init__((dim,), sched.num_steps)
        T = sched.num_steps
        m, v = [mean], [var]
        for t in reversed(range(T)):
            m.insert(0, m[0] / sched.alpha[t].item())
            v.insert(0, v[0] / sched.alpha[t].item() ** 2 + sched.s2[t].item())
        self.m = torch.stack(m)  # (T + 1, D)
        self.v = torch.tensor(v)  # (T + 1,)

    def value(self, x, t):
        return ((x - self.m[t]) ** 2).sum(1) / (2 * self.v[t])


def train_with_checkpoints(target, cfg, out, max_steps=None):
    """Train VGS through the Trainer with a checkpoint every 2 iterations (resumes from ``out``)."""
    algo = VGS(target, cfg)
    Trainer(algo, no_data, 1, cfg.iterations, out, ckpt_every=2, progress=False, tensorboard=False,
            max_steps_this_call=max_steps).fit()
    return algo


def affine_dxmi(seed=0) -> DxMI:
    """A small DxMI on 2D data: a 3-step AffinePolicy, an MLP value and energy."""
    torch.manual_seed(seed)
    pol = AffinePolicy(T=3, D=2)
    val = TimeDependentValue(TimeMLP(2, 1, hidden=16, depth=2), (2,), 3)
    en = MLPEnergy(2, hidden=16, depth=2)
    cfg = DxMIConfig(batch_size=32, sampler_lr=1e-3, value_resample=True)
    return DxMI(pol, val, en, cfg, generator=torch.Generator().manual_seed(1))


#: the number of steps of :func:`make_dxmi`'s sampler
DXMI_STEPS = 4


def make_dxmi(init_seed: int, batch: int, value: str = "time_dependent", update: str = "dxdp",
              gen_seed: int = 1) -> DxMI:
    """A small DxMI (``update="dxdp"``) or GCD on 2D data: a DDPM subsequence policy of
    ``DXMI_STEPS`` steps, a time-dependent value or the shared energy as the value."""
    torch.manual_seed(init_seed)
    sched = LinearBetaSchedule(100)
    policy = DDPMSubsequencePolicy(TimeMLP(2, 2, hidden=32, depth=2, time_dim=16),
                                   make_subsequence("uniform").build(sched, DXMI_STEPS), (2,))
    energy = MLPEnergy(2, hidden=32, depth=2)
    val = (SharedEnergyValue(energy, DXMI_STEPS) if value == "shared"
           else TimeDependentValue(TimeMLP(2, 1, hidden=32, depth=2, time_dim=16), (2,), DXMI_STEPS))
    cfg = DxMIConfig(batch_size=batch, sampler_lr=1e-3, sigma_lr=1e-2, value_lr=1e-3, energy_lr=1e-3,
                     adavelreg=0.9)
    return SAMPLER_UPDATES[update](policy, val, energy, cfg, generator=torch.Generator().manual_seed(gen_seed))


def flat_params(algo: Algorithm) -> torch.Tensor:
    """Every parameter of an algorithm's modules, flattened into one vector."""
    return torch.cat([p.detach().flatten() for m in algo.modules.values() for p in m.parameters()])
