"""dxmi.policies.edm: the EDM policy keeps exact marginals with an exact denoiser; its mean and gain."""

from __future__ import annotations

import math

import pytest
import torch
from torch import Tensor, nn

from dxmi.diffusion.edm import EDMDenoiser
from dxmi.nets.unet import UNet
from dxmi.policies.edm import EDMPolicy
from dxmi.schedules.karras import KarrasSchedule
from tests.helpers import randomise_output


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
