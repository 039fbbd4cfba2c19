"""Optimal-transport costs between point sets (uses POT, the optional ``metrics`` extra)."""

from __future__ import annotations

import math
import warnings
from typing import Literal

import numpy as np

from dxmi.metrics._utils import ArrayLike, as_pair, import_ot

__all__ = ["emd", "sinkhorn", "wasserstein2"]

Metric = Literal["euclidean", "sqeuclidean"]


def _cost_matrix(x: ArrayLike, y: ArrayLike, metric: str) -> np.ndarray:
    xt, yt = as_pair(x, y)
    if metric not in ("euclidean", "sqeuclidean"):
        raise ValueError(f"metric must be 'euclidean' or 'sqeuclidean', got {metric!r}")
    a, b = xt.numpy(), yt.numpy()
    d2 = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2.0 * a @ b.T
    d2 = np.maximum(d2, 0.0)
    return np.sqrt(d2) if metric == "euclidean" else d2


#: L1 marginal error beyond which a Sinkhorn plan is no transport plan at all (its cost is then NaN,
#: not the meaningless <P, M> of a plan that lost its mass, which reads as a perfect 0)
FAILED_MARGINAL_ERROR = 0.1


def _uniform(k: int) -> np.ndarray:
    return np.full(k, 1.0 / k, dtype=np.float64)


def sinkhorn(
    x: ArrayLike,
    y: ArrayLike,
    reg: float = 0.05,
    metric: Metric = "euclidean",
    log_domain: bool = True,
    max_iter: int = 10_000,
    stop_thr: float = 1e-9,
    method: str | None = None,
) -> float:
    """Transport cost of the entropic OT plan between uniform empirical measures.

    Solves ``P* = argmin_{P in U(a, b)} <P, M> - reg * H(P)`` with ``a = 1/n``, ``b = 1/m`` and
    ``M_ij = ||x_i - y_j||`` (``metric="euclidean"``) or ``||x_i - y_j||^2``
    (``"sqeuclidean"``), and returns ``<P*, M> = sum_ij P*_ij M_ij`` (no entropy term).
    ``reg`` is absolute (in units of ``M``). ``log_domain=True`` uses POT's stabilised solver
    with log-domain absorption and epsilon annealing (``method="sinkhorn_epsilon_scaling"``),
    which converges quickly and stays finite for small ``reg`` such as ``1e-3``;
    ``log_domain=False`` uses the plain scaling iterations (``"sinkhorn"``; fast, but it
    underflows for small ``reg``). ``method`` overrides this with any POT method name (e.g.
    ``"sinkhorn_log"``, exact log-domain iterations, accurate but slow for small ``reg``).
    ``max_iter`` and ``stop_thr`` are POT's ``numItermax`` and ``stopThr``. A ``RuntimeWarning``
    is issued if the returned plan's marginals are off by more than ``1e-4`` (L1); when they are
    off by more than :data:`FAILED_MARGINAL_ERROR` the solve failed and the result is NaN (with
    a warning), and ``FloatingPointError`` is raised if the plan is not finite.

    Args:
        x: ``(n, D)``. y: ``(m, D)``.
    """
    if reg <= 0:
        raise ValueError(f"reg must be > 0, got {reg}")
    ot = import_ot()
    m_cost = _cost_matrix(x, y, metric)
    n, m = m_cost.shape
    if method is None:
        method = "sinkhorn_epsilon_scaling" if log_domain else "sinkhorn"
    a, b = _uniform(n), _uniform(m)
    with warnings.catch_warnings():
        # POT's inner loops warn on every epsilon stage; convergence is checked below instead.
        warnings.filterwarnings("ignore", message="Sinkhorn did not converge")
        plan = np.asarray(
            ot.sinkhorn(a, b, m_cost, reg, method=method, numItermax=max_iter, stopThr=stop_thr)
        )
    if not np.isfinite(plan).all():
        raise FloatingPointError(
            f"sinkhorn ({method}) produced non-finite values for reg={reg}; "
            "use log_domain=True or a larger reg"
        )
    marg_err = float(np.abs(plan.sum(1) - a).sum() + np.abs(plan.sum(0) - b).sum())
    if marg_err > FAILED_MARGINAL_ERROR:  # e.g. exp(-M / reg) underflowed to 0: the "plan" moves no mass
        warnings.warn(
            f"sinkhorn ({method}, reg={reg}) failed: the plan's marginals are off by {marg_err:.2e} (L1); "
            "returning NaN (use log_domain=True, a larger reg, or standardised data)",
            RuntimeWarning,
            stacklevel=2,
        )
        return math.nan
    if marg_err > 1e-4:
        warnings.warn(
            f"sinkhorn ({method}, reg={reg}) did not converge: marginal L1 error {marg_err:.2e}; "
            "increase max_iter or reg",
            RuntimeWarning,
            stacklevel=2,
        )
    return float(np.sum(plan * m_cost))


def emd(x: ArrayLike, y: ArrayLike, metric: Metric = "sqeuclidean") -> float:
    """Exact OT cost ``min_{P in U(a, b)} <P, M>`` between uniform empirical measures.

    ``M_ij = ||x_i - y_j||^2`` (``"sqeuclidean"``, i.e. ``W_2^2``) or ``||x_i - y_j||``
    (``"euclidean"``, i.e. ``W_1``); network simplex via ``ot.emd2``.

    Args:
        x: ``(n, D)``. y: ``(m, D)``.
    """
    ot = import_ot()
    m_cost = _cost_matrix(x, y, metric)
    n, m = m_cost.shape
    return float(ot.emd2(_uniform(n), _uniform(m), m_cost, numItermax=10_000_000))


def wasserstein2(x: ArrayLike, y: ArrayLike) -> float:
    """Exact empirical ``W_2 = sqrt(emd(x, y, metric="sqeuclidean"))``."""
    return math.sqrt(max(emd(x, y, metric="sqeuclidean"), 0.0))
