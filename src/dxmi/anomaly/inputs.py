"""The detector's input transform, fitted on the normal training data and saved with the model.

``s(x) = (x - m) / sd`` per feature, then optionally ``@ W`` with ``W = C^{-1/2}``, the inverse
square root of the Ledoit-Wolf shrinkage covariance ``C`` of the standardised data (whitening), so
that a quadratic base energy ``||s(x)||^2 / 2`` is a Mahalanobis distance. ``as_matrix`` turns user
input into a checked ``(N, D)`` float tensor with one-line errors.
"""

from __future__ import annotations

import sys
from typing import Any

import numpy as np
import torch
from torch import Tensor


def ledoit_wolf(z: Tensor) -> tuple[Tensor, float]:
    """Ledoit-Wolf shrinkage covariance of ``z (n, D)``: ``(1 - a) S + a (tr S / D) I`` with the
    empirical covariance ``S`` (divided by n, after centring) and the shrinkage ``a`` in [0, 1] that
    minimises the estimated Frobenius risk (Ledoit & Wolf 2004). Returns ``(covariance (D, D), a)``."""
    if z.ndim != 2 or z.shape[0] < 2:
        raise ValueError(f"ledoit_wolf needs a (n >= 2, D) matrix, received shape {tuple(z.shape)}")
    x = (z - z.mean(0)).double()
    n, d = x.shape
    s = x.T @ x / n
    mu = torch.trace(s) / d
    eye = torch.eye(d, dtype=s.dtype, device=s.device)
    delta = ((s - mu * eye) ** 2).sum() / d
    x2 = x * x
    beta = ((x2.T @ x2).sum() / n - (s * s).sum()) / (d * n)
    a = 0.0 if float(delta) == 0.0 else float(torch.clamp(beta, max=delta) / delta)
    a = min(max(a, 0.0), 1.0)
    return ((1 - a) * s + a * mu * eye).to(z.dtype), a


class Standardizer:
    """s(x) = (x - mean) / std per feature, then optionally ``@ W`` with ``W = C^{-1/2}`` the inverse
    square root of the Ledoit-Wolf covariance ``C`` of the standardised training data (whitening:
    the quadratic base energy becomes the Mahalanobis distance). Constant features keep std 1."""

    def __init__(self, mean: Tensor, std: Tensor, whiten: Tensor | None = None):
        if whiten is not None and whiten.shape != (mean.shape[0], mean.shape[0]):
            raise ValueError(f"whitening matrix must be ({mean.shape[0]}, {mean.shape[0]}), "
                             f"received {tuple(whiten.shape)}")
        self.mean, self.std, self.whiten = mean, std, whiten

    @classmethod
    def fit(cls, x: Tensor, whiten: bool = False) -> Standardizer:
        mean = x.mean(0)
        std = x.std(0) if x.shape[0] > 1 else torch.ones_like(mean)
        std = torch.where(std > 1e-8, std, torch.ones_like(std))
        w = None
        if whiten and x.shape[0] > 1:
            cov, _ = ledoit_wolf((x - mean) / std)
            evals, evecs = torch.linalg.eigh(cov.double())
            w = (evecs * evals.clamp(min=1e-6).rsqrt()) @ evecs.T
            w = w.to(x.dtype)
        return cls(mean, std, w)

    def unwhiten(self) -> Tensor | None:
        """W^-1 (D, D), which maps whitened inputs back to standardised ones; None without whitening."""
        if self.whiten is None:
            return None
        return torch.linalg.inv(self.whiten.double()).to(self.whiten.dtype)

    def __call__(self, x: Tensor) -> Tensor:
        z = (x - self.mean) / self.std
        return z @ self.whiten if self.whiten is not None else z


def _is_sparse(x: Any) -> bool:
    sparse = sys.modules.get("scipy.sparse")  # not imported: x cannot be a SciPy sparse array
    return sparse is not None and bool(sparse.issparse(x))


def as_matrix(x: Any, name: str = "X", dim: int | None = None, owner: str = "the detector") -> Tensor:
    """A finite float32 (N, D) tensor (a copy) from an array-like; one-line errors on bad input,
    worded as scikit-learn's where its checks look for them. ``dim``: the expected D, with
    ``owner`` (one word, e.g. the class name) in the error."""
    if _is_sparse(x):
        raise TypeError(f"{name}: sparse input is not supported; pass a dense array ({name}.toarray())")
    raw = np.asarray(x)
    if np.iscomplexobj(raw):
        raise ValueError(f"{name}: Complex data not supported")
    arr = np.array(raw, dtype=np.float32)  # a copy: read-only or shared inputs stay untouched
    if arr.ndim != 2:
        hint = ("; Reshape your data with X.reshape(-1, 1) for a single feature or X.reshape(1, -1) for a "
                "single sample" if arr.ndim == 1 else "")
        raise ValueError(f"{name}: expected a 2-D array (n_samples, n_features), received shape {arr.shape}{hint}")
    if arr.shape[0] < 1:
        raise ValueError(f"{name}: 0 sample(s) (shape={arr.shape}) while a minimum of 1 is required.")
    if arr.shape[1] < 1:
        raise ValueError(f"{name}: 0 feature(s) (shape={arr.shape}) while a minimum of 1 is required.")
    if dim is not None and arr.shape[1] != dim:
        raise ValueError(f"{name} has {arr.shape[1]} features, but {owner} is expecting {dim} features as input: "
                         f"fitted on {dim} features, received shape {arr.shape}")
    if not bool(np.isfinite(arr).all()):
        raise ValueError(f"{name}: contains NaN or infinite values")
    return torch.from_numpy(arr)


__all__ = ["Standardizer", "as_matrix", "ledoit_wolf"]
