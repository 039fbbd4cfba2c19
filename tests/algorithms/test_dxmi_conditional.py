"""Class-conditional DxMI: labels travel from the data batch through rollouts, the trajectory buffer,
the energy, the value targets and the sampler loss; parts that take no labels say so in one line."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from dxmi.algorithms import GCD, DDPMTraining, DxMI, DxMIConfig
from dxmi.buffers import TrajectoryBuffer
from dxmi.diffusion import EpsilonModel
from dxmi.energies import GaussianEnergy
from dxmi.energies.conv import ConvEnergy
from dxmi.nets import TimeMLP
from dxmi.nets.unet import UNet
from dxmi.policies import DDPMSubsequencePolicy
from dxmi.records import LabelledBatch, Trajectory
from dxmi.schedules import LinearBetaSchedule, make_subsequence
from dxmi.values import SharedEnergyValue, TimeDependentValue
from tests.helpers import ClassConstantMeanPolicy, ClassGaussianEnergy, ConstantMeanPolicy, randomise_output

CENTERS = torch.tensor([[2.0, 0.0], [0.0, -2.0], [-1.5, 1.5]])


def _class_problem(update_cls, tau1=0.2, iters=800, lr=1e-2, seed=0):
    """T = 1, E(x | y) = ||x - c_y||^2 / (2 v): for each class the optimum is b_y = c_y and
    sigma^2 = tau1 v / D (sigma is shared by the classes, and so is its optimum)."""
    D, K, v = 2, 3, 0.5
    torch.manual_seed(seed)
    pol = ClassConstantMeanPolicy(T=1, D=D, K=K, sigma=1.0)
    val = TimeDependentValue(TimeMLP(D, 1, hidden=32, depth=2), (D,), 1)  # class-agnostic baseline
    cfg = DxMIConfig(batch_size=192, tau1=tau1, tau2=0.0, sampler_lr=lr, sigma_lr=lr, value_lr=3e-3,
                     sampler_grad_clip=None, value_grad_clip=None)
    algo = update_cls(pol, val, ClassGaussianEnergy(CENTERS, v), cfg, generator=torch.Generator().manual_seed(seed))
    batch = LabelledBatch(torch.zeros(192, D), torch.arange(192) % K)
    for _ in range(iters):
        algo.update(batch)
    return algo, pol, v, D


@pytest.mark.parametrize("update_cls,iters,atol,rel", [(DxMI, 800, 0.05, 0.1), (GCD, 1500, 0.15, 0.3)])
def test_each_class_reaches_its_own_closed_form_optimum(update_cls, iters, atol, rel):
    algo, pol, v, D = _class_problem(update_cls, iters=iters)
    assert torch.allclose(pol.b[0, :3].detach(), CENTERS, atol=atol)  # b_y -> c_y, class by class
    assert pol.log_sigma.exp()[0].item() ** 2 == pytest.approx(0.2 * v / D, rel=rel)
    # sampling with labels draws each class around its own centre
    y = torch.arange(600) % 3
    x = pol.sample(600, torch.Generator().manual_seed(3), y=y)
    for k in range(3):
        assert torch.allclose(x[y == k].mean(0), CENTERS[k], atol=0.1)


def test_trajectory_buffer_keeps_each_chains_label():
    T, B = 3, 5
    buf = TrajectoryBuffer(T, B, (1,))
    # state values encode (t, chain): x_t of chain b = 10 t + b
    states = (10 * torch.arange(T + 1)[:, None] + torch.arange(B)[None]).float()[..., None]
    labels = torch.tensor([4, 0, 2, 2, 1])
    buf.store(Trajectory(states=states, log_sigma=torch.zeros(T), labels=labels))
    assert torch.equal(buf.sample_labels, labels)
    assert torch.equal(buf.at(1).y, labels)
    batch = buf.sample(200, torch.Generator().manual_seed(0))
    chain = (batch.x[:, 0] - 10 * batch.t).long()
    assert torch.equal(batch.y, labels[chain])
    assert torch.equal((batch.next_x[:, 0] - 10 * (batch.t + 1)).long(), chain)
    buf.store(Trajectory(states=states, log_sigma=torch.zeros(T)))  # an unconditional rollout forgets them
    assert buf.sample_labels is None and buf.sample(4).y is None
    with pytest.raises(ValueError, match="labels of shape"):
        buf.store(Trajectory(states=states, log_sigma=torch.zeros(T), labels=labels[:3]))


def _tiny_unet(K: int) -> UNet:
    torch.manual_seed(0)
    return UNet(1, channels=8, channel_mult=(1, 2), num_res_blocks=1, attention_resolutions=(), image_size=8,
                groups=4, num_classes=K)


def test_ddpm_policy_conditions_every_step_of_each_chain_on_its_own_label():
    K = 3
    net = randomise_output(_tiny_unet(K))  # a zero-initialised output would ignore the labels
    steps = make_subsequence("fastdpm_quadratic").build(LinearBetaSchedule(1000), 4)
    pol = DDPMSubsequencePolicy(net, steps, (1, 8, 8))
    assert pol.num_classes == K
    x0 = pol.initial(3, torch.Generator().manual_seed(0))
    y = torch.tensor([0, 1, 2])
    mixed = pol.rollout(3, torch.Generator().manual_seed(1), x0=x0, y=y)
    assert torch.equal(mixed.labels, y)
    for k in range(K):
        alone = pol.rollout(3, torch.Generator().manual_seed(1), x0=x0, y=torch.full((3,), k))
        assert torch.allclose(mixed.states[:, k], alone.states[:, k], atol=1e-5)
    other = pol.rollout(3, torch.Generator().manual_seed(1), x0=x0, y=torch.tensor([1, 2, 0]))
    assert (other.samples - mixed.samples).abs().mean() > 1e-4  # the labels do change the samples
    with pytest.raises(ValueError, match=r"labels must lie in 0..2"):
        pol.sample(2, y=torch.tensor([0, 7]))
    with pytest.raises(ValueError, match=r"expected labels of shape \(2,\)"):
        pol.sample(2, y=torch.tensor([0]))  # a batch-size mismatch is an error, not a broadcast


def test_unconditional_parts_refuse_labels_in_one_line():
    pol = ConstantMeanPolicy(T=2, D=2)
    with pytest.raises(ValueError, match="ConstantMeanPolicy is unconditional"):
        pol.sample(4, y=torch.zeros(4, dtype=torch.long))
    with pytest.raises(ValueError, match="GaussianEnergy is unconditional"):
        GaussianEnergy(torch.zeros(2), 1.0)(torch.zeros(4, 2), torch.zeros(4, dtype=torch.long))
    val = TimeDependentValue(TimeMLP(2, 1, hidden=8, depth=1), (2,), 2)
    algo = DxMI(pol, val, GaussianEnergy(torch.zeros(2), 1.0), DxMIConfig(batch_size=4))
    with pytest.raises(ValueError, match="needs a class-conditional policy"):
        algo.update(LabelledBatch(torch.zeros(4, 2), torch.zeros(4, dtype=torch.long)))
    with pytest.raises(ValueError, match=r"expected labels of shape \(4,\) and dtype long"):
        LabelledBatch(torch.zeros(4, 2), torch.zeros(4))


def test_conditional_conv_energy_starts_as_the_unconditional_one_and_projects_per_class():
    torch.manual_seed(0)
    x = torch.randn(6, 1, 8, 8)
    cond = ConvEnergy((1, 8, 8), channels=8, channel_mult=(1, 2), num_classes=4)
    plain = ConvEnergy((1, 8, 8), channels=8, channel_mult=(1, 2))
    plain.load_state_dict({k: v for k, v in cond.state_dict().items() if not k.startswith("class_embed")})
    y = torch.tensor([0, 1, 2, 3, 4, 0])  # 4 = the null class
    assert torch.allclose(cond(x, y), plain(x), atol=1e-6)  # zero-initialised class embeddings
    with torch.no_grad():
        cond.class_embed.weight.normal_()
    e = cond(x, y)
    # the projection term by hand: exp(s) * sum_{h,w} e_y . a(x)[:, h, w]
    a = cond.net[:-1](x)
    proj = (a * cond.class_embed.weight[y][:, :, None, None]).sum(dim=(1, 2, 3))
    assert torch.allclose(e, plain(x) + cond.log_scale.exp() * proj, rtol=1e-4, atol=1e-4)
    assert not torch.allclose(cond(x, y), cond(x, y.roll(1)))
    assert torch.allclose(cond(x), plain(x))  # no labels: the unconditional energy
    shared = SharedEnergyValue(cond, 4)
    assert shared.num_classes == 4
    assert torch.allclose(shared(x, torch.zeros(6, dtype=torch.long), y), e)


class _RecordingNet(nn.Module):
    """An eps-network that records the labels it was called with."""

    num_classes = 3

    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.zeros(()))
        self.seen: list[torch.Tensor] = []

    def forward(self, x, k, y):
        self.seen.append(y.clone())
        return self.w * x


def test_conditional_pretraining_passes_labels_and_drops_them_to_the_null_class():
    net = _RecordingNet()
    model = EpsilonModel(net, LinearBetaSchedule(100), (2,))
    algo = DDPMTraining(model, lr=1e-3, generator=torch.Generator().manual_seed(0), label_dropout=0.25)
    y = torch.arange(4000) % 3
    algo.update(LabelledBatch(torch.zeros(4000, 2), y))
    seen = net.seen[-1]
    dropped = seen == 3
    assert abs(dropped.float().mean().item() - 0.25) < 0.03
    assert torch.equal(seen[~dropped], y[~dropped])  # the rest keep their own label
    with pytest.raises(ValueError, match="label_dropout"):
        DDPMTraining(model, label_dropout=1.0)


def test_conditional_value_of_a_shared_energy_feeds_the_td_targets():
    """With a class-conditional energy shared as the value, the soft-Bellman target of the last
    step is E(x_T | y) of each chain's own label (by hand, tau terms off)."""
    v = 0.5
    pol = ClassConstantMeanPolicy(T=1, D=2, K=3)
    energy = ClassGaussianEnergy(CENTERS, v)
    algo = DxMI(pol, TimeDependentValue(TimeMLP(2, 1, hidden=8, depth=1), (2,), 1), energy,
                DxMIConfig(batch_size=3, tau1=0.0, tau2=0.0))
    states = torch.tensor([[[0.0, 0.0]] * 3, [[1.0, 1.0]] * 3])
    labels = torch.tensor([2, 0, 1])
    algo.buffer.store(Trajectory(states=states, log_sigma=pol.log_sigma.detach(), labels=labels))
    target = algo.value_target(algo.buffer.at(0))
    expected = ((torch.tensor([1.0, 1.0]) - CENTERS[labels]) ** 2).sum(1) / (2 * v)
    assert torch.allclose(target, expected)
    assert not math.isclose(float(expected[0]), float(expected[1]))
