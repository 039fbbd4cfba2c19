"""dxmi.metrics.frechet: the Frechet distance from statistics and from samples."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import linalg

from dxmi.metrics import frechet_distance, frechet_distance_from_stats

torch.set_num_threads(1)


def _rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


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
