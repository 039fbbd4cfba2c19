"""dxmi.algorithms.losses: the contrastive-divergence loss."""

from __future__ import annotations

import torch

from dxmi.algorithms.losses import contrastive_divergence
from dxmi.energies import MLPEnergy


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
