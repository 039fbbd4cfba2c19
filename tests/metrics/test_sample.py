from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import torch
from scipy import linalg, stats

from dxmi.data import EightGaussians
from dxmi.metrics import (
    DensityError,
    density_error,
    emd,
    energy_distance,
    frechet_distance,
    frechet_distance_from_stats,
    mmd,
    mode_statistics,
    precision_recall,
    sinkhorn,
    sliced_wasserstein,
    tvd_energy,
    wasserstein2,
)

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


# --------------------------------------------------------------------------------------- OT


def test_emd_translation_exact() -> None:
    x = _rng(8).normal(size=(100, 2))
    v = np.array([0.7, -1.2])
    assert emd(x, x + v) == pytest.approx(float(v @ v), rel=1e-9)
    assert emd(x, x + v, metric="euclidean") == pytest.approx(float(np.linalg.norm(v)), rel=1e-9)
    assert wasserstein2(torch.as_tensor(x), torch.as_tensor(x + v)) == pytest.approx(
        float(np.linalg.norm(v)), rel=1e-9
    )
    assert emd(x, x) == pytest.approx(0.0, abs=1e-12)


def test_sinkhorn_small_reg_close_to_emd() -> None:
    x = _rng(9).normal(size=(60, 2))
    y = _rng(10).normal(0.5, 1.0, size=(50, 2))
    for metric in ("sqeuclidean", "euclidean"):
        exact = emd(x, y, metric=metric)
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # converges without complaint at reg=1e-3
            approx = sinkhorn(x, y, reg=1e-3, metric=metric)
        assert np.isfinite(approx)
        assert approx == pytest.approx(exact, rel=0.02)
        # entropic plans are never cheaper than the optimum, and larger reg blurs more
        loose = sinkhorn(x, y, reg=0.5, metric=metric)
        assert exact - 1e-9 <= approx <= loose
    plain = sinkhorn(x, y, reg=0.5, log_domain=False)
    assert plain == pytest.approx(sinkhorn(x, y, reg=0.5), rel=1e-5)


# ---------------------------------------------------------------------------------- Frechet


def test_frechet_from_stats_diagonal() -> None:
    a = np.array([1.0, 4.0, 0.25])
    b = np.array([2.0, 1.0, 0.5])
    mu1, mu2 = np.array([0.0, 1.0, -1.0]), np.array([1.0, 1.0, 1.0])
    expected = float(((mu1 - mu2) ** 2).sum() + ((np.sqrt(a) - np.sqrt(b)) ** 2).sum())
    got = frechet_distance_from_stats(mu1, np.diag(a), mu2, np.diag(b))
    assert got == pytest.approx(expected, rel=1e-12)
    assert frechet_distance_from_stats(mu1, np.diag(a), mu1, np.diag(a)) == pytest.approx(
        0.0, abs=1e-12
    )


def _closed_form(mu1, s1, mu2, s2) -> float:  # independent route via scipy.linalg.sqrtm
    cross = linalg.sqrtm(s1 @ s2).real
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1 + s2 - 2 * cross))


def test_frechet_full_covariance_closed_form_and_samples() -> None:
    rng = _rng(11)
    a1, a2 = rng.normal(size=(3, 3)), rng.normal(size=(3, 3))
    s1, s2 = a1 @ a1.T + 0.1 * np.eye(3), a2 @ a2.T + 0.1 * np.eye(3)
    mu1, mu2 = np.array([0.0, 1.0, 2.0]), np.array([1.0, -1.0, 0.0])
    exact = _closed_form(mu1, s1, mu2, s2)
    assert frechet_distance_from_stats(mu1, s1, mu2, s2) == pytest.approx(exact, rel=1e-8)
    x = rng.multivariate_normal(mu1, s1, size=40000)
    y = rng.multivariate_normal(mu2, s2, size=40000)
    assert frechet_distance(x, y) == pytest.approx(exact, rel=0.03)
    assert frechet_distance(x, x) == pytest.approx(0.0, abs=1e-9)


# ------------------------------------------------------------------------ modes and P / R


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


# ------------------------------------------------------------------------ densities / energy


def test_density_error() -> None:
    ds = EightGaussians()
    exact = density_error(lambda z: -ds.log_prob(z), ds.log_prob, resolution=120)
    assert isinstance(exact, DensityError)
    assert exact.tv == pytest.approx(0.0, abs=1e-6)
    assert exact.kl == pytest.approx(0.0, abs=1e-6)
    # an energy with an additive constant is the same normalised density
    shifted = density_error(lambda z: 3.0 - ds.log_prob(z), ds.log_prob, resolution=120)
    assert shifted.tv == pytest.approx(0.0, abs=1e-6)
    # a broad Gaussian is far from the mixture
    broad = density_error(lambda z: (z**2).sum(1) / 8.0, ds.log_prob, resolution=120)
    assert broad.tv > 0.3 and broad.kl > 0.3
    with pytest.raises(ValueError, match="output shape"):
        density_error(lambda z: z, ds.log_prob, resolution=10)


def test_tvd_energy() -> None:
    e = _rng(14).normal(size=5000)
    assert tvd_energy(e, e) == 0.0
    assert tvd_energy(e + 100.0, e) == pytest.approx(1.0)
    # uniform on [0, 1] vs uniform on [0.5, 1.5]: TV = 0.5
    u = np.linspace(0, 1, 100_000, endpoint=False)
    assert tvd_energy(u + 0.5, u, bins=100) == pytest.approx(0.5, abs=1e-3)
    assert tvd_energy(torch.as_tensor(u + 0.5), u, bins=100, range=(0.0, 2.0)) == pytest.approx(
        0.5, abs=1e-3
    )
