"""Grid-based comparison of a learned energy with a known density, and energy histograms."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from dxmi.metrics._utils import ArrayLike, as_vector

__all__ = ["DensityError", "density_error", "tvd_energy"]


@dataclass(frozen=True)
class DensityError:
    """Result of :func:`density_error`: total variation ``tv`` and ``kl = KL(p || q)``."""

    tv: float
    kl: float


def _eval_chunked(fn: Callable[[Tensor], Tensor], pts: Tensor, chunk: int, what: str) -> Tensor:
    outs = []
    with torch.no_grad():
        for i in range(0, pts.shape[0], chunk):
            part = pts[i : i + chunk]
            out = fn(part)
            out = out.reshape(-1) if out.ndim == 2 and out.shape[1] == 1 else out
            if out.shape != (part.shape[0],):
                raise ValueError(
                    f"{what} must map (N, 2) to (N,), got output shape {tuple(out.shape)} "
                    f"for input {tuple(part.shape)}"
                )
            outs.append(out.detach().to("cpu", torch.float64))
    return torch.cat(outs)


def density_error(
    energy_fn: Callable[[Tensor], Tensor],
    log_prob_fn: Callable[[Tensor], Tensor],
    bounds: tuple[float, float] = (-4.0, 4.0),
    resolution: int = 200,
    chunk: int = 16_384,
    device: torch.device | str | None = None,
) -> DensityError:
    """Compare ``q(x) ∝ exp(-E(x))`` with the exact ``p(x) = exp(log_prob(x))`` on a grid.

    The grid is ``resolution x resolution`` points evenly spaced over ``[lo, hi]^2``. Both
    densities are normalised over the grid with log-sum-exp, ``p_i = exp(l_i - LSE(l))``, and
    ``tv = 0.5 sum_i |p_i - q_i|``, ``kl = sum_i p_i (log p_i - log q_i)`` (terms with
    ``p_i = 0`` contribute 0). Evaluation is chunked under ``torch.no_grad``.

    Args:
        energy_fn: float32 ``(N, 2) -> (N,)`` energy ``E`` (e.g. an ``nn.Module``).
        log_prob_fn: float32 ``(N, 2) -> (N,)`` exact log-density (any normalisation).
        bounds: ``(lo, hi)``. resolution: points per axis.
        device: where the grid points are put before calling the functions (default CPU).
    """
    lo, hi = float(bounds[0]), float(bounds[1])
    if not hi > lo:
        raise ValueError(f"bounds must satisfy lo < hi, got {bounds}")
    if resolution < 2:
        raise ValueError(f"resolution must be >= 2, got {resolution}")
    axis = torch.linspace(lo, hi, resolution, dtype=torch.float32)
    xx, yy = torch.meshgrid(axis, axis, indexing="xy")
    pts = torch.stack([xx.reshape(-1), yy.reshape(-1)], dim=1)
    if device is not None:
        pts = pts.to(device)
    log_q = -_eval_chunked(energy_fn, pts, chunk, "energy_fn")
    log_p = _eval_chunked(log_prob_fn, pts, chunk, "log_prob_fn")
    if torch.isnan(log_q).any() or torch.isnan(log_p).any():
        raise ValueError("energy_fn or log_prob_fn returned NaN on the grid")
    log_q = log_q - torch.logsumexp(log_q, 0)
    log_p = log_p - torch.logsumexp(log_p, 0)
    p, q = log_p.exp(), log_q.exp()
    tv = 0.5 * float((p - q).abs().sum())
    support = p > 0
    kl = float((p[support] * (log_p[support] - log_q[support])).sum())
    return DensityError(tv=tv, kl=max(kl, 0.0))


def tvd_energy(
    e_model: ArrayLike,
    e_ref: ArrayLike,
    bins: int = 200,
    range: tuple[float, float] | None = None,
) -> float:
    """Total variation between histograms of two 1-D value sets (e.g. energies).

    Both arrays are binned into ``bins`` equal bins over ``range`` (default
    ``[min(e_ref), max(e_ref)]``) plus one underflow and one overflow bin, normalised by the
    number of values, and ``tvd = 0.5 sum_b |p_b - q_b|`` (in ``[0, 1]``). Inputs are flattened.
    """
    a = as_vector(e_model, "e_model")
    b = as_vector(e_ref, "e_ref")
    if bins < 1:
        raise ValueError(f"bins must be >= 1, got {bins}")
    if not (np.isfinite(a).all() and np.isfinite(b).all()):
        raise ValueError("e_model and e_ref must be finite")
    if range is None:
        lo, hi = float(b.min()), float(b.max())
        if hi <= lo:  # constant reference: use a unit-width window around it
            lo, hi = lo - 0.5, hi + 0.5
    else:
        lo, hi = float(range[0]), float(range[1])
        if hi <= lo:
            raise ValueError(f"range must satisfy lo < hi, got {range}")

    def hist(v: np.ndarray) -> np.ndarray:
        inner = np.histogram(v, bins=bins, range=(lo, hi))[0]  # last bin closed on the right
        outer = np.array([(v < lo).sum(), (v > hi).sum()])
        return np.concatenate([inner, outer]) / v.size

    return float(0.5 * np.abs(hist(a) - hist(b)).sum())
