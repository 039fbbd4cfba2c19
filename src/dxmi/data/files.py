"""Point clouds given by the user: loading from ``.npy`` / ``.csv`` and resampling."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from dxmi.data.toy2d import Toy2D
from dxmi.io import FileFormatError, check_file, load_npy, read_text, reading

__all__ = ["DataScale", "PointCloudDataset", "load_point_cloud"]

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
    lines = [ln for ln in read_text(path, "point cloud").splitlines() if ln.strip()]
    if not lines:
        raise FileFormatError(f"{path}: the point cloud file is empty")
    delimiter: str | None = "," if "," in lines[-1] else None
    skip = 0 if _is_number_row(lines[0], delimiter) else 1
    with reading(path, "point cloud"):
        data = np.loadtxt(lines[skip:], delimiter=delimiter, dtype=np.float64, ndmin=2)
    return data


def load_point_cloud(path: str | os.PathLike[str], dtype: torch.dtype = torch.float32) -> Tensor:
    """Load an ``(n, D)`` point cloud from a ``.npy`` or text (``.csv``/``.txt``/``.tsv``) file.

    Text files may be comma- or whitespace-separated; a non-numeric first line (a header) is
    skipped.

    Returns:
        ``(n, D)`` tensor of ``dtype`` (float32 by default).

    Raises:
        FileNotFoundError: ``path`` does not exist.
        FileFormatError: a directory, an empty, truncated or malformed file, complex values.
        ValueError: unsupported suffix, array not 2-D, non-finite values, or fewer than 2 rows.
    """
    p = check_file(path, "point cloud", allow_empty=True)
    suffix = p.suffix.lower()
    if suffix == ".npy":
        arr = load_npy(p, "point cloud")
    elif suffix in _TEXT_SUFFIXES:
        arr = _load_text(p)
    else:
        raise ValueError(f"{p}: unsupported file type {suffix!r}; use .npy or .csv")
    if arr.ndim != 2:
        raise ValueError(f"{p}: expected a 2-D array (n, D), got shape {arr.shape}")
    arr = arr.astype(np.float64, copy=False)
    bad = ~np.isfinite(arr).all(axis=1)
    if bad.any():
        raise ValueError(f"{p}: {int(bad.sum())} of {arr.shape[0]} rows contain NaN or inf values")
    if arr.shape[0] < 2:
        raise ValueError(f"{p}: need at least 2 rows, got shape {arr.shape}")
    return torch.from_numpy(arr).to(dtype)


@dataclass(frozen=True)
class DataScale:
    """The affine map between a point cloud's own units and the standardised units a model of it
    works in: ``model = (data - mean) / scale``, with ``mean`` per coordinate and one ``scale`` for
    all (the root-mean-square standard deviation), so that the cloud's shape is kept."""

    mean: tuple[float, ...]
    scale: float

    def __post_init__(self) -> None:
        if not (math.isfinite(self.scale) and self.scale > 0) or not all(math.isfinite(m) for m in self.mean):
            raise ValueError(f"data scale: need a finite mean and scale > 0, got mean {self.mean}, scale {self.scale}")

    @classmethod
    def fit(cls, points: Tensor | np.ndarray) -> DataScale:
        x = np.asarray(points, dtype=np.float64)
        mean = x.mean(axis=0)
        scale = float(np.sqrt(((x - mean) ** 2).mean()))
        if not scale > 0:
            raise ValueError(f"the point cloud has no spread: all {len(x)} rows are equal; nothing to model")
        return cls(tuple(float(m) for m in mean), scale)

    def to_model(self, x: Tensor) -> Tensor:
        mean = torch.tensor(self.mean, dtype=torch.float64, device=x.device)
        return ((x.double() - mean) / self.scale).to(x.dtype if x.is_floating_point() else torch.float32)

    def to_data(self, x: Tensor) -> Tensor:
        mean = torch.tensor(self.mean, dtype=torch.float64, device=x.device)
        return (x.double() * self.scale + mean).to(x.dtype if x.is_floating_point() else torch.float32)

    def as_dict(self) -> dict[str, Any]:
        return {"mean": list(self.mean), "scale": self.scale}

    @classmethod
    def from_dict(cls, d: Any, where: str = "data scale") -> DataScale:
        if not isinstance(d, dict) or not isinstance(d.get("mean"), list) or "scale" not in d:
            raise ValueError(f"{where}: expected {{'mean': [...], 'scale': number}}")
        try:
            return cls(tuple(float(m) for m in d["mean"]), float(d["scale"]))
        except (TypeError, ValueError) as e:
            raise ValueError(f"{where}: {e}") from None


class PointCloudDataset(Toy2D):
    """Empirical distribution of a fixed ``(N, D)`` point cloud (any ``D``).

    :meth:`sample` draws rows uniformly with replacement. With a :class:`DataScale` (``data_scale``;
    ``"fit"`` fits one to the points) the rows are held and drawn standardised, the units a model
    trains in; :meth:`to_data_units` maps samples back to the file's units.
    """

    name = "pointcloud"

    def __init__(self, points: Tensor | np.ndarray, data_scale: DataScale | str | None = None) -> None:
        data = torch.as_tensor(np.asarray(points) if not isinstance(points, Tensor) else points)
        if data.ndim != 2:
            raise ValueError(f"points must have shape (N, D), got {tuple(data.shape)}")
        if data.shape[0] < 1:
            raise ValueError(f"points must have at least one row, got {tuple(data.shape)}")
        if isinstance(data_scale, str):
            if data_scale != "fit":
                raise ValueError(f"data_scale must be a DataScale, 'fit' or None, got {data_scale!r}")
            data_scale = DataScale.fit(data)
        if data_scale is not None and len(data_scale.mean) != data.shape[1]:
            raise ValueError(f"the data scale is for {len(data_scale.mean)} coordinates, the points have "
                             f"{data.shape[1]}")
        self.data_scale: DataScale | None = data_scale
        """The standardisation applied to the rows (None: the rows as given)."""
        raw = data.detach().to("cpu", torch.float64)
        self.points: Tensor = (data_scale.to_model(raw) if data_scale is not None else raw).float().contiguous()
        """``(N, D)`` float32 data (standardised when ``scale`` is set)."""

    @classmethod
    def from_file(cls, path: str | os.PathLike[str], data_scale: DataScale | str | None = None) -> PointCloudDataset:
        """Build from a file read by :func:`load_point_cloud`."""
        return cls(load_point_cloud(path, dtype=torch.float64), data_scale)

    def to_data_units(self, x: Tensor) -> Tensor:
        """Samples in the model's units -> the file's units (the identity without a scale)."""
        return self.data_scale.to_data(x) if self.data_scale is not None else x

    def to_model_units(self, x: Tensor) -> Tensor:
        return self.data_scale.to_model(x) if self.data_scale is not None else x

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
        return f"PointCloudDataset(n={len(self)}, dim={self.dim}{', standardised' if self.data_scale else ''})"
