"""dxmi.nets.unet: shapes, zero-initialised output, time and class dependence, errors, inside a policy."""

from __future__ import annotations

import pytest
import torch

from dxmi.diffusion import EpsilonModel
from dxmi.nets.unet import UNet
from dxmi.policies import DDPMSubsequencePolicy
from dxmi.schedules import FastDPMQuadratic, LinearBetaSchedule
from tests.helpers import randomise_output


@pytest.mark.parametrize("size,mult,attn", [(8, (1, 2), (4,)), (16, (1, 2, 2), (8,)), (28, (1, 2), ())])
def test_unet_shapes_and_zero_init(size: int, mult: tuple[int, ...], attn: tuple[int, ...]) -> None:
    net = UNet(1, channels=8, channel_mult=mult, num_res_blocks=1, attention_resolutions=attn, image_size=size,
               groups=4)
    x = torch.randn(3, 1, size, size)
    out = net(x, torch.tensor([0.0, 10.0, 999.0]))
    assert out.shape == x.shape
    assert float(out.detach().abs().max()) == 0.0  # zero-initialised output layer


def test_unet_depends_on_time_and_class_and_not_on_the_batch() -> None:
    net = randomise_output(UNet(3, channels=8, channel_mult=(1, 2), num_res_blocks=1, attention_resolutions=(4,),
                                 image_size=8, groups=4, num_classes=5))
    x = torch.randn(4, 3, 8, 8)
    t = torch.full((4,), 100.0)
    a = net(x, t)
    assert (a - net(x, t + 300)).abs().mean() > 1e-3  # time-conditioned
    y = torch.tensor([0, 1, 2, 3])
    assert (net(x, t, y) - net(x, t, y.flip(0))).abs().mean() > 1e-4  # class-conditioned
    assert torch.allclose(a, net(x, t, torch.full((4,), 5)), atol=1e-6)  # omitted y = null class
    # per-sample: the output of sample 0 does not depend on the other samples (GroupNorm, not BatchNorm)
    assert torch.allclose(net(x[:1], t[:1]), a[:1], atol=1e-5)
    # mixed t in one batch equals per-sample evaluation
    tm = torch.tensor([1.0, 200.0, 500.0, 900.0])
    mixed = net(x, tm)
    single = torch.cat([net(x[i:i + 1], tm[i:i + 1]) for i in range(4)])
    assert torch.allclose(mixed, single, atol=1e-5)


def test_unet_bad_input_messages() -> None:
    net = UNet(1, channels=8, channel_mult=(1, 2), image_size=8, groups=4, attention_resolutions=())
    with pytest.raises(ValueError, match=r"received \(2, 3, 8, 8\)"):
        net(torch.randn(2, 3, 8, 8), torch.zeros(2))
    with pytest.raises(ValueError, match="expected t of shape"):
        net(torch.randn(2, 1, 8, 8), torch.zeros(3))
    with pytest.raises(ValueError, match="divisible"):
        UNet(1, channels=8, channel_mult=(1, 2, 2, 2), image_size=12)


def test_unet_works_inside_the_ddpm_subsequence_policy() -> None:
    net = randomise_output(UNet(1, channels=8, channel_mult=(1, 2), image_size=8, groups=4,
                                 attention_resolutions=()))
    base = LinearBetaSchedule()
    policy = DDPMSubsequencePolicy(net, FastDPMQuadratic().build(base, 10), (1, 8, 8))
    traj = policy.rollout(5, torch.Generator().manual_seed(0))
    assert traj.states.shape == (11, 5, 1, 8, 8)
    assert torch.isfinite(traj.states).all()
    step = policy.step(traj.states[3], 3)
    step.next_x.sum().backward()  # differentiable through the UNet
    assert net.conv_out.weight.grad is not None
    assert EpsilonModel(net, base, (1, 8, 8)).loss(torch.randn(4, 1, 8, 8)).ndim == 0
