"""Frechet distance between Gaussian fits of two sample sets."""

from __future__ import annotations

import numpy as np

from dxmi.metrics._utils import ArrayLike, as_pair

__all__ = ["frechet_distance", "frechet_distance_from_stats"]


def _sqrtm_psd(a: np.ndarray) -> np.ndarray:
    """Symmetric square root of a symmetric PSD matrix via ``eigh`` (eigenvalues clipped at 0)."""
    w, v = np.linalg.eigh((a + a.T) / 2.0)
    return (v * np.sqrt(np.clip(w, 0.0, None))) @ v.T


def frechet_distance_from_stats(
    mu1: ArrayLike, s1: ArrayLike, mu2: ArrayLike, s2: ArrayLike
) -> float:
    """Frechet (2-Wasserstein squared) distance between ``N(mu1, s1)`` and ``N(mu2, s2)``.

    ``d^2 = ||mu1 - mu2||^2 + Tr(s1 + s2 - 2 (s1 s2)^{1/2})``. In float64, the trace term uses
    ``Tr (s1 s2)^{1/2} = Tr (s1^{1/2} s2 s1^{1/2})^{1/2}``, where the inner matrix is symmetric
    PSD, so both roots come from ``eigh`` and no complex parts arise.

    Args:
        mu1, mu2: ``(D,)`` means. s1, s2: ``(D, D)`` covariances.
    """
    m1 = np.atleast_1d(np.asarray(mu1, dtype=np.float64))
    m2 = np.atleast_1d(np.asarray(mu2, dtype=np.float64))
    c1 = np.atleast_2d(np.asarray(s1, dtype=np.float64))
    c2 = np.atleast_2d(np.asarray(s2, dtype=np.float64))
    d = m1.shape[0]
    if m1.shape != (d,) or m2.shape != (d,) or c1.shape != (d, d) or c2.shape != (d, d):
        raise ValueError(
            "expected mu1, mu2 of shape (D,) and s1, s2 of shape (D, D); got "
            f"{m1.shape}, {c1.shape}, {m2.shape}, {c2.shape}"
        )
    r1 = _sqrtm_psd(c1)
    inner = _sqrtm_psd(r1 @ c2 @ r1)
    diff = m1 - m2
    value = float(diff @ diff + np.trace(c1) + np.trace(c2) - 2.0 * np.trace(inner))
    return max(value, 0.0)


def frechet_distance(x: ArrayLike, y: ArrayLike) -> float:
    """Frechet distance between Gaussians fitted to ``x`` and ``y`` (sample mean, unbiased
    covariance); see :func:`frechet_distance_from_stats`.

    Args:
        x: ``(n, D)``, ``n >= 2``. y: ``(m, D)``, ``m >= 2``.
    """
    xt, yt = as_pair(x, y, min_rows=2)
    a, b = xt.numpy(), yt.numpy()
    return frechet_distance_from_stats(
        a.mean(0), np.cov(a, rowvar=False), b.mean(0), np.cov(b, rowvar=False)
    )
