"""dxmi.metrics.sample: sliced Wasserstein, MMD and the energy distance."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import stats

from dxmi.metrics import energy_distance, mmd, sliced_wasserstein

torch.set_num_threads(1)


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


# ----------------------------------------------------------------------------- sliced Wasserstein


def test_sw_self_and_duplicated_is_zero() -> None:
    x = torch.randn(500, 3, generator=_gen(0))
    assert sliced_wasserstein(x, x, generator=_gen(1)) == pytest.approx(0.0, abs=1e-12)
    # n != m but the same empirical measure
    assert sliced_wasserstein(x, torch.cat([x, x]), generator=_gen(1)) == pytest.approx(
        0.0, abs=1e-12
    )


def test_sw_1d_matches_exact_w1_with_unequal_sizes() -> None:
    x = _rng(1).normal(size=(37, 1))
    y = _rng(2).normal(1.0, 2.0, size=(53, 1))
    expected = stats.wasserstein_distance(x[:, 0], y[:, 0])
    got = sliced_wasserstein(x, y, n_projections=4, p=1, generator=_gen(0))
    assert got == pytest.approx(expected, rel=1e-10)


@pytest.mark.parametrize("shift", [0.5, 2.0])
def test_sw_gaussian_shift_1d(shift: float) -> None:
    x = torch.randn(20000, 1, generator=_gen(2))
    y = torch.randn(15000, 1, generator=_gen(3)) + shift
    assert sliced_wasserstein(x, y, n_projections=8, generator=_gen(4)) == pytest.approx(
        shift, abs=0.03
    )


def test_sw_ordering_and_determinism() -> None:
    x = torch.randn(2000, 2, generator=_gen(5))
    near = torch.randn(2000, 2, generator=_gen(6)) + torch.tensor([0.5, 0.0])
    far = torch.randn(2000, 2, generator=_gen(7)) + torch.tensor([2.0, 0.0])
    assert sliced_wasserstein(x, near, generator=_gen(8)) < sliced_wasserstein(
        x, far, generator=_gen(8)
    )
    assert sliced_wasserstein(x, far, generator=_gen(9)) == sliced_wasserstein(
        x, far, generator=_gen(9)
    )
    # mean over directions of W_2^2 of a shift v: E[<theta, v>^2] = ||v||^2 / D
    expected = 2.0 / math.sqrt(2)
    assert sliced_wasserstein(x, far, n_projections=2000, generator=_gen(9)) == pytest.approx(
        expected, abs=0.06
    )


def test_shape_errors_print_shapes() -> None:
    with pytest.raises(ValueError, match=r"\(5, 2\) and \(4, 3\)"):
        sliced_wasserstein(torch.zeros(5, 2), torch.zeros(4, 3))
    with pytest.raises(ValueError, match=r"\(5,\)"):
        mmd(torch.zeros(5), torch.zeros(5, 1))


# ------------------------------------------------------------------------------ MMD / energy


def _mmd_naive(x: np.ndarray, y: np.ndarray, hs: tuple[float, ...]) -> float:
    def k(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        d2 = ((a[:, None, :] - b[None, :, :]) ** 2).sum(-1)
        return sum(np.exp(-d2 / (2 * h * h)) for h in hs)

    n, m = len(x), len(y)
    kxx, kyy = k(x, x), k(y, y)
    return (
        (kxx.sum() - np.trace(kxx)) / (n * (n - 1))
        + (kyy.sum() - np.trace(kyy)) / (m * (m - 1))
        - 2 * k(x, y).mean()
    )


def test_mmd_matches_formula_and_behaviour() -> None:
    x = _rng(3).normal(size=(40, 2))
    y = _rng(4).normal(0.3, 1.0, size=(30, 2))
    hs = (0.1, 0.2, 0.5, 1.0, 2.0, 5.0)
    assert mmd(x, y) == pytest.approx(_mmd_naive(x, y, hs), rel=1e-9, abs=1e-12)
    a = torch.randn(1500, 2, generator=_gen(10))
    b = torch.randn(1500, 2, generator=_gen(11))
    same = mmd(a, b)
    shifted = mmd(a, b + 1.0)
    assert abs(same) < 0.01
    assert shifted > 0.3


def test_energy_distance() -> None:
    x = _rng(5).normal(size=(200, 3))
    assert energy_distance(x, x.copy()) == pytest.approx(0.0, abs=1e-7)
    u = _rng(6).normal(size=(80, 1))
    v = _rng(7).normal(1.0, 1.5, size=(120, 1))
    # scipy returns the square root of the same V-statistic
    assert energy_distance(u, v) == pytest.approx(
        stats.energy_distance(u[:, 0], v[:, 0]) ** 2, rel=1e-7
    )
    assert energy_distance(u, v) > energy_distance(u, u + 0.1)
