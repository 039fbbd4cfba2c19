"""Per-location energies on feature maps (N, C, H, W): an image score and a localisation map.

Every location's C-vector is a sample of one vector detector (an energy shared by all locations,
i.e. a 1x1-convolution energy), so

    map(x)[h, w] = E(s(x[:, h, w])),        score(x) = max_{h, w} map(x)[h, w],

and pixel-level scores are the map upsampled (bilinearly) to the mask resolution.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from dxmi.anomaly.detector import CONFIG_FILE, EnergyDetector, load_vector_detector, make_detector, read_saved

FEATURE_MAP_FILE = "feature_map.json"


def _as_maps(x: Any, channels: int | None = None) -> torch.Tensor:
    t = torch.as_tensor(np.asarray(x, dtype=np.float32))
    if t.ndim != 4:
        raise ValueError(f"feature maps: expected (N, C, H, W), received shape {tuple(t.shape)}")
    if channels is not None and t.shape[1] != channels:
        raise ValueError(f"feature maps: the detector was fitted on C={channels}, received shape {tuple(t.shape)}")
    if not bool(torch.isfinite(t).all()):
        raise ValueError("feature maps contain NaN or infinite values")
    return t


def locations(x: torch.Tensor) -> torch.Tensor:
    """(N, C, H, W) -> (N * H * W, C), location-major within each image."""
    return x.permute(0, 2, 3, 1).reshape(-1, x.shape[1])


class FeatureMapDetector:
    """PyOD-style detector for feature maps over an inner vector :class:`EnergyDetector`."""

    def __init__(self, inner: EnergyDetector | None = None, kind: str = "dxmi", **overrides: Any):
        self.inner = inner if inner is not None else make_detector(kind, **overrides)
        self.channels: int | None = None

    def fit(self, X: Any, y: Any = None, progress: bool = False) -> FeatureMapDetector:
        x = _as_maps(X)
        self.channels = int(x.shape[1])
        self.inner.fit(locations(x).numpy(), progress=progress)
        return self

    def score_map(self, X: Any) -> np.ndarray:
        """Per-location energies (N, H, W), higher = more anomalous."""
        x = _as_maps(X, self.channels)
        e = self.inner.energies(locations(x))
        return e.reshape(x.shape[0], x.shape[2], x.shape[3]).numpy().astype(np.float64)

    def decision_function(self, X: Any) -> np.ndarray:
        """Image scores (N,): the maximum of the map."""
        return self.score_map(X).reshape(np.asarray(X).shape[0], -1).max(1)

    def save(self, folder: str | Path) -> Path:
        folder = self.inner.save(folder)
        (folder / FEATURE_MAP_FILE).write_text(json.dumps({"channels": self.channels, "image_score": "max"}))
        return folder


def upsample_maps(maps: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Bilinear upsampling of (N, H, W) score maps to (N, *size) (mask resolution)."""
    t = torch.as_tensor(maps, dtype=torch.float32)[:, None]
    if tuple(t.shape[2:]) == tuple(size):
        return np.asarray(maps)
    return F.interpolate(t, size=size, mode="bilinear", align_corners=False)[:, 0].numpy()


def load_detector(folder: str | Path) -> EnergyDetector | FeatureMapDetector:
    """Restore a detector saved by ``save(folder)`` (vector or feature-map)."""
    meta, tensors = read_saved(folder)
    inner = load_vector_detector(meta, tensors)
    fm = Path(folder) / FEATURE_MAP_FILE
    if fm.is_file():
        det = FeatureMapDetector(inner)
        det.channels = int(json.loads(fm.read_text())["channels"])
        return det
    return inner


__all__ = ["CONFIG_FILE", "FeatureMapDetector", "load_detector", "locations", "upsample_maps"]
