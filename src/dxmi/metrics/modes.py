"""Mode coverage and k-NN precision / recall."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from dxmi.metrics._utils import CHUNK, ArrayLike, as_pair, as_points, sq_dists

__all__ = ["ModeStats", "PrecisionRecall", "mode_statistics", "precision_recall"]


@dataclass(frozen=True)
class ModeStats:
    """Result of :func:`mode_statistics`.

    Attributes:
        counts: per mode, the samples whose nearest centre is that mode and lie within
            ``n_std * std`` of it.
        coverage: number of modes with ``count >= max(1, 0.1 * n / K)``.
        in_mode_fraction: ``sum(counts) / n``.
        effective_modes: ``exp(H(p))`` with ``p = counts / sum(counts)``: ``K`` when the modes
            are equally filled, 1 when one mode holds every in-mode sample (0 if none is in a mode).
            It sees a collapse onto fewer modes before a mode is lost altogether.
        within_mode_std: ``sqrt(mean ||x - c_k||^2 / D) / std`` over the in-mode samples: the
            spread inside a mode relative to the data's. For exact samples of isotropic Gaussian
            modes it is ``sqrt(E[chi2_D | chi2_D <= n_std^2] / D)`` (0.974 in 2-D at ``n_std = 3``,
            the truncation shrinks it); smaller means the samples crowd the centres.
    """

    counts: list[int]
    coverage: int
    in_mode_fraction: float
    effective_modes: float
    within_mode_std: float


@dataclass(frozen=True)
class PrecisionRecall:
    """Result of :func:`precision_recall` (both in ``[0, 1]``)."""

    precision: float
    recall: float


def mode_statistics(
    samples: ArrayLike, centers: ArrayLike, std: float, n_std: float = 3.0
) -> ModeStats:
    """Count samples near each mode of a mixture.

    A sample is assigned to its nearest centre ``c_k`` and counted for mode ``k`` iff
    ``||x - c_k|| <= n_std * std``. A mode is covered iff its count is at least
    ``max(1, 0.1 * n / K)`` (10 % of the count expected under equal weights).

    Args:
        samples: ``(n, D)``. centers: ``(K, D)``. std: per-mode std. n_std: radius in stds.
    """
    x = as_points(samples, "samples")
    c = as_points(centers, "centers")
    if x.shape[1] != c.shape[1]:
        raise ValueError(
            f"samples and centers must have the same dimension, got shapes {tuple(x.shape)} "
            f"and {tuple(c.shape)}"
        )
    if std <= 0 or n_std <= 0:
        raise ValueError(f"std and n_std must be > 0, got std={std}, n_std={n_std}")
    n, k = x.shape[0], c.shape[0]
    d2 = sq_dists(x, c)
    best, idx = d2.min(dim=1)
    inside = best <= (n_std * std) ** 2
    counts = torch.bincount(idx[inside], minlength=k)
    threshold = max(1.0, 0.1 * n / k)
    coverage = int((counts.double() >= threshold).sum())
    n_in = int(counts.sum())
    if n_in > 0:
        p = counts.double() / n_in
        entropy = -(p[p > 0] * p[p > 0].log()).sum()
        effective = float(entropy.exp())
        spread = float((best[inside].double().mean() / x.shape[1]).sqrt() / std)
    else:
        effective, spread = 0.0, float("nan")
    return ModeStats(
        counts=[int(v) for v in counts.tolist()],
        coverage=coverage,
        in_mode_fraction=float(inside.double().mean()),
        effective_modes=effective,
        within_mode_std=spread,
    )


def _knn_radii(x: Tensor, k: int, chunk: int) -> Tensor:
    """Squared distance from each row of ``x`` to its k-th nearest other row, ``(n,)``."""
    out = torch.empty(x.shape[0], dtype=x.dtype)
    for i in range(0, x.shape[0], chunk):
        d2 = sq_dists(x[i : i + chunk], x)
        # k + 1 smallest includes the point itself at distance 0
        out[i : i + chunk] = torch.topk(d2, k + 1, dim=1, largest=False).values[:, k]
    return out


def _coverage(points: Tensor, support: Tensor, radii2: Tensor, chunk: int) -> float:
    """Fraction of ``points`` lying in ``union_j B(support_j, radius_j)``."""
    hit = 0
    for i in range(0, points.shape[0], chunk):
        d2 = sq_dists(points[i : i + chunk], support)
        hit += int((d2 <= radii2[None, :]).any(dim=1).sum())
    return hit / points.shape[0]


def precision_recall(
    real: ArrayLike, fake: ArrayLike, k: int = 5, chunk: int = CHUNK
) -> PrecisionRecall:
    """Improved precision and recall (Kynkaanniemi et al., 2019).

    With ``r_k(a; A)`` the distance from ``a`` to its k-th nearest neighbour in ``A`` (itself
    excluded), ``manifold(A) = union_{a in A} B(a, r_k(a; A))``;
    ``precision = mean_{f in fake} 1[f in manifold(real)]`` and
    ``recall = mean_{r in real} 1[r in manifold(fake)]``. Distances are computed in row chunks
    of ``chunk``, so memory is ``O(chunk * max(n, m))``.

    Args:
        real: ``(n, D)``, ``n > k``. fake: ``(m, D)``, ``m > k``.
    """
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    r, f = as_pair(real, fake, min_rows=k + 1)
    real_r2 = _knn_radii(r, k, chunk)
    fake_r2 = _knn_radii(f, k, chunk)
    return PrecisionRecall(
        precision=_coverage(f, r, real_r2, chunk),
        recall=_coverage(r, f, fake_r2, chunk),
    )
