"""Pieces written once and shared: the EMA update, the contrastive-divergence loss, the returns."""

from __future__ import annotations

import copy

import torch

from dxmi.algorithms.losses import contrastive_divergence
from dxmi.energies import MLPEnergy
from dxmi.nets import ema_update
from dxmi.values import lambda_returns, monte_carlo_returns


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


def test_contrastive_divergence_is_the_documented_loss():
    energy = MLPEnergy(2, hidden=8, depth=1)
    x, s = torch.randn(5, 2), torch.randn(7, 2)
    e_x, e_s = energy(x), energy(s)
    plain = contrastive_divergence(energy, x, e_x, s, e_s, 0.0)
    assert torch.equal(plain, e_x.mean() - e_s.mean())
    reg = contrastive_divergence(energy, x, e_x, s, e_s, 0.5)
    assert torch.allclose(reg, plain + 0.5 * ((e_x**2).mean() + (e_s**2).mean()))
    reg.backward()
    assert all(p.grad is not None for p in energy.parameters())


def test_monte_carlo_returns_are_lambda_returns_at_one():
    g = torch.Generator().manual_seed(0)
    costs, terminal = torch.randn(6, 4, generator=g), torch.randn(4, generator=g)
    mc = monte_carlo_returns(costs, terminal)
    torch.testing.assert_close(mc, lambda_returns(costs, torch.randn(5, 4, generator=g), terminal, 1.0))
    torch.testing.assert_close(mc[0], terminal + costs.sum(0))
    torch.testing.assert_close(mc[-1], terminal + costs[-1])
