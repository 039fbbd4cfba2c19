"""Point clouds given by the user: loading from ``.npy`` / ``.csv`` and resampling."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from dxmi.data.toy2d import Toy2D

__all__ = ["PointCloudDataset", "load_point_cloud"]

_TEXT_SUFFIXES = (".csv", ".txt", ".tsv")


def _is_number_row(line: str, delimiter: str | None) -> bool:
    parts = [p for p in (line.split(delimiter) if delimiter else line.split()) if p.strip()]
    if not parts:
        return False
    try:
        for p in parts:
            float(p)
    except ValueError:
        return False
    return True


def _load_text(path: Path) -> np.ndarray:
    with path.open("r", encoding="utf-8") as fh:
        lines = [ln for ln in fh.read().splitlines() if ln.strip()]
    if not lines:
        raise ValueError(f"{path}: file is empty")
    delimiter: str | None = "," if "," in lines[-1] else None
    skip = 0 if _is_number_row(lines[0], delimiter) else 1
    data = np.loadtxt(lines[skip:], delimiter=delimiter, dtype=np.float64, ndmin=2)
    return data


def load_point_cloud(path: str | os.PathLike[str]) -> Tensor:
    """Load an ``(n, D)`` point cloud from a ``.npy`` or text (``.csv``/``.txt``/``.tsv``) file.

    Text files may be comma- or whitespace-separated; a non-numeric first line (a header) is
    skipped.

    Returns:
        ``(n, D)`` float32 tensor.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        ValueError: unsupported suffix, array not 2-D, non-finite values, or fewer than 2 rows.
    """
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"point cloud file not found: {p}")
    suffix = p.suffix.lower()
    if suffix == ".npy":
        arr = np.asarray(np.load(p, allow_pickle=False))
    elif suffix in _TEXT_SUFFIXES:
        arr = _load_text(p)
    else:
        raise ValueError(f"{p}: unsupported file type {suffix!r}; use .npy or .csv")
    if arr.ndim != 2:
        raise ValueError(f"{p}: expected a 2-D array (n, D), got shape {arr.shape}")
    if not np.issubdtype(arr.dtype, np.number):
        raise ValueError(f"{p}: expected numeric data, got dtype {arr.dtype}")
    arr = arr.astype(np.float64, copy=False)
    bad = ~np.isfinite(arr).all(axis=1)
    if bad.any():
        raise ValueError(f"{p}: {int(bad.sum())} of {arr.shape[0]} rows contain NaN or inf values")
    if arr.shape[0] < 2:
        raise ValueError(f"{p}: need at least 2 rows, got shape {arr.shape}")
    return torch.from_numpy(arr).float()


class PointCloudDataset(Toy2D):
    """Empirical distribution of a fixed ``(N, D)`` point cloud (any ``D``).

    :meth:`sample` draws rows uniformly with replacement.
    """

    name = "pointcloud"

    def __init__(self, points: Tensor | np.ndarray) -> None:
        data = torch.as_tensor(np.asarray(points) if not isinstance(points, Tensor) else points)
        if data.ndim != 2:
            raise ValueError(f"points must have shape (N, D), got {tuple(data.shape)}")
        if data.shape[0] < 1:
            raise ValueError(f"points must have at least one row, got {tuple(data.shape)}")
        self.points: Tensor = data.detach().to("cpu", torch.float32).contiguous()
        """``(N, D)`` float32 data."""

    @classmethod
    def from_file(cls, path: str | os.PathLike[str]) -> PointCloudDataset:
        """Build from a file read by :func:`load_point_cloud`."""
        return cls(load_point_cloud(path))

    @property
    def dim(self) -> int:
        return int(self.points.shape[1])

    def __len__(self) -> int:
        return int(self.points.shape[0])

    def sample(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """Draw ``n`` rows with replacement, shape ``(n, D)``, float32."""
        if not isinstance(n, int) or n < 0:
            raise ValueError(f"n must be a non-negative int, got {n!r}")
        idx = torch.randint(0, len(self), (n,), generator=generator)
        return self.points[idx]

    def __repr__(self) -> str:
        return f"PointCloudDataset(n={len(self)}, dim={self.dim})"
