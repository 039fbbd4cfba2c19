"""dxmi.targets.synthetic: the GMM is normalised; the funnel's density and samples."""

import math

import pytest
import torch

from dxmi.targets import Funnel, GridGMM


def test_gmm_normalised_and_funnel_density():
    gmm = GridGMM()
    # log Z = 0: a grid integral of exp(-E) over [-10, 10]^2 is 1.
    h = 0.05
    ticks = torch.arange(-10, 10, h) + h / 2
    grid = torch.cartesian_prod(ticks, ticks)
    assert float(torch.exp(-gmm(grid)).sum() * h * h) == pytest.approx(1.0, abs=1e-3)
    f = Funnel(dim=3)
    x = torch.tensor([[1.0, 0.5, -0.5]])
    lp = (-0.5 * (1 / 3) ** 2 - math.log(3) - 0.5 * math.log(2 * math.pi)
          + 2 * (-0.5 * 0.25 / math.e - 0.5 - 0.5 * math.log(2 * math.pi)))
    assert -f(x).item() == pytest.approx(lp, rel=1e-5)
    s = f.sample(20000, torch.Generator().manual_seed(0))
    assert s[:, 0].std().item() == pytest.approx(3.0, rel=0.05)
