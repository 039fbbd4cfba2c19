"""dxmi.nets.ema: the EMA update."""

from __future__ import annotations

import copy

import torch

from dxmi.nets import ema_update


def test_ema_update_averages_parameters_and_copies_buffers_on_request():
    src = torch.nn.BatchNorm1d(3)
    tgt = copy.deepcopy(src)
    with torch.no_grad():
        src.weight.fill_(3.0)
        src.running_mean.fill_(5.0)
    ema_update(tgt, src, 0.75)
    assert torch.allclose(tgt.weight, torch.full((3,), 0.75 * 1.0 + 0.25 * 3.0))
    assert torch.equal(tgt.running_mean, torch.zeros(3))
    ema_update(tgt, src, 0.0, buffers=True)
    assert torch.equal(tgt.weight, src.weight) and torch.equal(tgt.running_mean, src.running_mean)
