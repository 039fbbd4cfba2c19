"""dxmi.diffusion.edm: the EDM loss learns a Gaussian."""

from __future__ import annotations

import pytest
import torch

from dxmi.diffusion.edm import EDMDenoiser
from dxmi.nets.unet import UNet
from dxmi.schedules.karras import KarrasSchedule


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
