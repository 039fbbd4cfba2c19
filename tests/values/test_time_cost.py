"""dxmi.values.time_cost: the sigmoid time cost telescopes."""

import pytest
import torch

from dxmi.values import SigmoidTimeCost


def test_time_cost_telescopes():
    T, kappa = 10, 1.0
    tc = SigmoidTimeCost(T, kappa)
    total = tc(torch.arange(T)).sum().item()
    c = T // 2
    s = lambda z: 1 / (1 + torch.exp(torch.tensor(-float(z)))).item()  # noqa: E731
    assert total == pytest.approx(kappa * (s(c) - s(c - T)), abs=1e-6)
