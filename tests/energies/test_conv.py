"""dxmi.energies.conv: the conv energy (shape, scale, no batch coupling) and the time-conditioned conv value."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from dxmi.energies.conv import ConvEnergy


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
