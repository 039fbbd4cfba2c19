"""Input validation and chunked pairwise helpers shared by the metrics."""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType
from typing import Any

import numpy as np
import torch
from torch import Tensor

ArrayLike = Any  # torch.Tensor | np.ndarray | nested sequence

CHUNK = 1024


def as_points(x: ArrayLike, name: str = "x", min_rows: int = 1) -> Tensor:
    """Convert ``x`` to a float64 CPU tensor of shape ``(n, D)`` and validate it."""
    if isinstance(x, Tensor):
        t = x.detach().to("cpu", torch.float64)
    else:
        t = torch.as_tensor(np.asarray(x, dtype=np.float64))
    if t.ndim != 2:
        raise ValueError(f"{name} must have shape (n, D), got shape {tuple(t.shape)}")
    if t.shape[0] < min_rows:
        raise ValueError(f"{name} needs at least {min_rows} rows, got shape {tuple(t.shape)}")
    if t.shape[1] < 1:
        raise ValueError(f"{name} needs at least one column, got shape {tuple(t.shape)}")
    return t


def as_pair(x: ArrayLike, y: ArrayLike, min_rows: int = 1) -> tuple[Tensor, Tensor]:
    """Validate two point sets ``(n, D)`` and ``(m, D)`` with the same ``D``."""
    xt = as_points(x, "x", min_rows)
    yt = as_points(y, "y", min_rows)
    if xt.shape[1] != yt.shape[1]:
        raise ValueError(
            "x and y must have the same dimension D, got shapes "
            f"{tuple(xt.shape)} and {tuple(yt.shape)}"
        )
    return xt, yt


def as_vector(x: ArrayLike, name: str) -> np.ndarray:
    """Convert to a 1-D float64 numpy array (any input shape is flattened)."""
    if isinstance(x, Tensor):
        x = x.detach().to("cpu", torch.float64).numpy()
    arr = np.asarray(x, dtype=np.float64).reshape(-1)
    if arr.size == 0:
        raise ValueError(f"{name} is empty")
    return arr


def sq_dists(a: Tensor, b: Tensor) -> Tensor:
    """Squared Euclidean distances ``(len(a), len(b))``, clamped at 0."""
    d = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2.0 * a @ b.T
    return d.clamp_min_(0.0)


def chunked_sum(a: Tensor, b: Tensor, fn: Callable[[Tensor], Tensor], chunk: int = CHUNK) -> float:
    """``sum_{i, j} fn(||a_i - b_j||^2)`` computed over row chunks of ``a``."""
    total = 0.0
    for i in range(0, a.shape[0], chunk):
        total += float(fn(sq_dists(a[i : i + chunk], b)).sum())
    return total


def import_ot() -> ModuleType:
    """Import POT lazily with a helpful message."""
    try:
        import ot
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise ImportError(
            "this metric needs the POT package; install it with `pip install dxmi[metrics]`"
        ) from err
    return ot
