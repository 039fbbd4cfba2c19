"""dxmi.metrics.modes: mode statistics and precision / recall."""

from __future__ import annotations

import math

import pytest
import torch

from dxmi.data import EightGaussians
from dxmi.metrics import mode_statistics, precision_recall

torch.set_num_threads(1)


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_mode_statistics_three_modes() -> None:
    ds = EightGaussians()
    x = ds.sample(6000, _gen(12))
    nearest = torch.cdist(x, ds.centers).argmin(1)
    kept = x[(nearest == 0) | (nearest == 2) | (nearest == 5)]
    st = mode_statistics(kept, ds.centers, ds.std)
    assert st.coverage == 3
    assert [i for i, c in enumerate(st.counts) if c > 0] == [0, 2, 5]
    # P(chi^2_2 <= 9) = 1 - exp(-4.5) for an isotropic Gaussian
    assert st.in_mode_fraction == pytest.approx(1 - math.exp(-4.5), abs=0.01)
    assert sum(st.counts) == round(st.in_mode_fraction * len(kept))
    full = mode_statistics(x, ds.centers, ds.std)
    assert full.coverage == 8
    # far-away junk samples count for no mode
    junk = mode_statistics(torch.full((10, 2), 100.0), ds.centers, ds.std)
    assert junk.coverage == 0 and junk.in_mode_fraction == 0.0 and junk.effective_modes == 0.0


def test_mode_statistics_effective_modes_and_spread() -> None:
    ds = EightGaussians()
    # exact samples: about 8 equally filled modes; in-mode spread of a 2-D Gaussian cut at 3 std:
    # E[chi2_2 | chi2_2 <= 9] = 2 - 9 e^{-4.5} / (1 - e^{-4.5}), so the ratio is sqrt of half that
    st = mode_statistics(ds.sample(40_000, _gen(21)), ds.centers, ds.std)
    expected = math.sqrt((2 - 9 * math.exp(-4.5) / (1 - math.exp(-4.5))) / 2)
    assert st.within_mode_std == pytest.approx(expected, abs=0.01)
    assert st.effective_modes == pytest.approx(8.0, abs=0.01)
    # counts (1/2, 1/2) over two modes -> exactly 2; (1/2, 1/4, 1/4) -> exp(1.5 ln 2) = 2^1.5
    c = ds.centers
    two = torch.cat([c[0].repeat(50, 1), c[3].repeat(50, 1)])
    assert mode_statistics(two, c, ds.std).effective_modes == pytest.approx(2.0)
    three = torch.cat([c[0].repeat(200, 1), c[1].repeat(100, 1), c[2].repeat(100, 1)])
    assert mode_statistics(three, c, ds.std).effective_modes == pytest.approx(2**1.5)
    # samples on the centres have no spread; samples at half the data's scale have about half of it
    assert mode_statistics(two, c, ds.std).within_mode_std == 0.0
    centre = ds.centers[torch.randint(0, 8, (40_000,), generator=_gen(22))]
    shrunk = centre + 0.5 * ds.std * torch.randn(40_000, 2, generator=_gen(23))
    assert mode_statistics(shrunk, c, ds.std).within_mode_std == pytest.approx(0.5, abs=0.01)


def test_precision_recall_subset_and_half() -> None:
    real = torch.rand(3000, 2, generator=_gen(13))
    pr = precision_recall(real, real[:1000])
    assert pr.precision == 1.0
    half = real[real[:, 0] < 0.5]
    pr = precision_recall(real, half)
    assert pr.precision == 1.0
    assert pr.recall == pytest.approx(0.5, abs=0.05)
    # chunking does not change the answer
    small = precision_recall(real, half, chunk=97)
    assert small == pr
    # disjoint supports
    far = precision_recall(real, real + 5.0)
    assert far.precision == 0.0 and far.recall == 0.0
