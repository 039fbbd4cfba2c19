"""Sample-based distances: sliced Wasserstein, MMD and energy distance."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from dxmi.metrics._utils import ArrayLike, as_pair, chunked_sum

__all__ = ["energy_distance", "mmd", "sliced_wasserstein"]


def _wasserstein_1d_pp(xs: Tensor, ys: Tensor, p: float) -> Tensor:
    """Exact ``W_p^p`` between empirical 1-D distributions, one per column.

    ``W_p^p = int_0^1 |F^{-1}(t) - G^{-1}(t)|^p dt`` with the empirical quantile functions, which
    are piecewise constant with breakpoints at ``i/n`` and ``j/m``; the integral is an exact sum
    over the merged breakpoints (this handles ``n != m``).

    Args:
        xs: ``(n, L)`` sorted along dim 0.
        ys: ``(m, L)`` sorted along dim 0.

    Returns:
        ``(L,)``.
    """
    n, m = xs.shape[0], ys.shape[0]
    if n == m:
        return ((xs - ys).abs() ** p).mean(0)
    f64 = torch.float64
    qx = torch.arange(1, n + 1, dtype=f64) / n
    qy = torch.arange(1, m + 1, dtype=f64) / m
    knots = torch.cat([qx, qy])
    knots = torch.unique(knots.clamp(max=1.0))  # sorted
    lengths = torch.diff(knots, prepend=knots.new_zeros(1))
    mid = knots - lengths / 2
    ix = (mid * n).floor().long().clamp(max=n - 1)
    iy = (mid * m).floor().long().clamp(max=m - 1)
    return ((xs[ix] - ys[iy]).abs() ** p * lengths[:, None]).sum(0)


def sliced_wasserstein(
    x: ArrayLike,
    y: ArrayLike,
    n_projections: int = 256,
    generator: torch.Generator | None = None,
    p: float = 2,
) -> float:
    """Sliced Wasserstein-p distance.

    ``SW_p(x, y) = ( (1/L) sum_l W_p^p(<theta_l, x>, <theta_l, y>) )^(1/p)`` with ``L`` random
    unit directions ``theta_l`` (uniform on the sphere, drawn from ``generator``; the global torch
    RNG if ``None``) and the exact 1-D empirical ``W_p`` (quantile coupling; ``n != m`` allowed).

    Args:
        x: ``(n, D)`` samples. y: ``(m, D)`` samples.
        n_projections: number of directions ``L``.
        p: order ``>= 1``.
    """
    xt, yt = as_pair(x, y)
    if n_projections < 1:
        raise ValueError(f"n_projections must be >= 1, got {n_projections}")
    if p < 1:
        raise ValueError(f"p must be >= 1, got {p}")
    d = xt.shape[1]
    theta = torch.randn(n_projections, d, generator=generator, dtype=torch.float64)
    theta = theta / theta.norm(dim=1, keepdim=True).clamp_min(1e-12)
    xs = torch.sort(xt @ theta.T, dim=0).values
    ys = torch.sort(yt @ theta.T, dim=0).values
    wpp = _wasserstein_1d_pp(xs, ys, p)
    return float(wpp.mean() ** (1.0 / p))


def mmd(
    x: ArrayLike,
    y: ArrayLike,
    bandwidths: Sequence[float] = (0.1, 0.2, 0.5, 1.0, 2.0, 5.0),
) -> float:
    """Unbiased estimate of the squared maximum mean discrepancy.

    ``k(a, b) = sum_h exp(-||a - b||^2 / (2 h^2))`` and
    ``MMD^2_u = 1/(n(n-1)) sum_{i != j} k(x_i, x_j) + 1/(m(m-1)) sum_{i != j} k(y_i, y_j)
    - 2/(nm) sum_{i, j} k(x_i, y_j)``. Can be slightly negative for equal distributions.

    Args:
        x: ``(n, D)``, ``n >= 2``. y: ``(m, D)``, ``m >= 2``.
        bandwidths: the RBF widths ``h``.
    """
    xt, yt = as_pair(x, y, min_rows=2)
    hs = [float(h) for h in bandwidths]
    if not hs or min(hs) <= 0:
        raise ValueError(f"bandwidths must be non-empty and positive, got {tuple(bandwidths)}")

    def kernel(d2: Tensor) -> Tensor:
        out = torch.zeros_like(d2)
        for h in hs:
            out.add_(torch.exp(d2 * (-0.5 / (h * h))))
        return out

    n, m = xt.shape[0], yt.shape[0]
    k_diag = float(len(hs))  # k(a, a)
    kxx = (chunked_sum(xt, xt, kernel) - n * k_diag) / (n * (n - 1))
    kyy = (chunked_sum(yt, yt, kernel) - m * k_diag) / (m * (m - 1))
    kxy = chunked_sum(xt, yt, kernel) / (n * m)
    return float(kxx + kyy - 2.0 * kxy)


def energy_distance(x: ArrayLike, y: ArrayLike) -> float:
    """Energy distance ``2 E|X - Y| - E|X - X'| - E|Y - Y'|`` (Euclidean norms).

    Expectations are plug-in (V-statistic) averages over all pairs, including ``i == j``, so the
    value is ``>= 0`` and exactly 0 for identical sets.

    Args:
        x: ``(n, D)``. y: ``(m, D)``.
    """
    xt, yt = as_pair(x, y)
    n, m = xt.shape[0], yt.shape[0]
    exy = chunked_sum(xt, yt, torch.sqrt) / (n * m)
    exx = chunked_sum(xt, xt, torch.sqrt) / (n * n)
    eyy = chunked_sum(yt, yt, torch.sqrt) / (m * m)
    return float(2.0 * exy - exx - eyy)
