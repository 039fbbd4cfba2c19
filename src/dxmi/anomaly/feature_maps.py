"""Per-location energies on feature maps (N, C, H, W): an image score and a localisation map.

Every location's C-vector is a sample of one vector detector (an energy shared by all locations,
i.e. a 1x1-convolution energy), so

    map(x)[h, w] = E(s(x[:, h, w])),        score(x) = mean of the k largest map(x)[h, w],

(k = ``top_k``; k = 1 is the maximum, k = H W the mean), and pixel-level scores are the map
upsampled (bilinearly) to the mask resolution. The maximum follows a single noisy location; a
mean over a few of the largest is steadier when defects cover several locations.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from dxmi.anomaly.base import MODEL_FILE, EnergyDetector, read_saved
from dxmi.anomaly.detector import load_vector_detector, make_detector
from dxmi.training.checkpoint import save_checkpoint


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


def image_scores(maps: np.ndarray, top_k: int = 1) -> np.ndarray:
    """Image scores (N,) from score maps (N, H, W): the mean of each map's ``top_k`` largest values."""
    m = np.asarray(maps, dtype=np.float64)
    if m.ndim != 3:
        raise ValueError(f"score maps: expected (N, H, W), received shape {m.shape}")
    flat = m.reshape(m.shape[0], -1)
    if not 1 <= top_k <= flat.shape[1]:
        raise ValueError(f"top_k must be in [1, H*W = {flat.shape[1]}], received {top_k}")
    if top_k == 1:
        return flat.max(1)
    return np.sort(flat, axis=1)[:, -top_k:].mean(1)


class FeatureMapDetector:
    """PyOD-style detector for feature maps over an inner vector :class:`EnergyDetector`.

    Args:
        inner: the vector detector applied at every location (default: ``make_detector(kind, **overrides)``).
        top_k: the image score is the mean of the ``top_k`` largest location energies (1: the maximum).
    """

    def __init__(self, inner: EnergyDetector | None = None, kind: str = "dxmi", top_k: int = 1, **overrides: Any):
        if not isinstance(top_k, int) or top_k < 1:
            raise ValueError(f"top_k must be a positive int, received {top_k!r}")
        self.inner = inner if inner is not None else make_detector(kind, **overrides)
        self.top_k = top_k
        self.channels: int | None = None

    def fit(self, X: Any, y: Any = None, progress: bool = False, workdir: str | Path | None = None,
            resume: bool = False, ckpt_every: int = 0) -> FeatureMapDetector:
        """Fit the inner detector on every location of the (N, C, H, W) maps; ``workdir`` /
        ``resume`` / ``ckpt_every`` as in :meth:`EnergyDetector.fit`."""
        x = _as_maps(X)
        self.channels = int(x.shape[1])
        self.inner.fit(locations(x).numpy(), progress=progress, workdir=workdir, resume=resume,
                       ckpt_every=ckpt_every)
        return self

    def score_map(self, X: Any) -> np.ndarray:
        """Per-location energies (N, H, W), higher = more anomalous."""
        x = _as_maps(X, self.channels)
        e = self.inner.energies(locations(x))
        return e.reshape(x.shape[0], x.shape[2], x.shape[3]).numpy().astype(np.float64)

    def decision_function(self, X: Any) -> np.ndarray:
        """Image scores (N,): the mean of the ``top_k`` largest location energies of each map."""
        return image_scores(self.score_map(X), self.top_k)

    def save(self, folder: str | Path) -> Path:
        """The inner detector's checkpoint (:meth:`EnergyDetector.save`) with the channel count and
        ``top_k`` in it."""
        state = self.inner.saved_state()
        state["feature_map"] = {"channels": self.channels, "top_k": self.top_k}
        folder = Path(folder)
        save_checkpoint(folder / MODEL_FILE, state)
        return folder


def upsample_maps(maps: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Bilinear upsampling of (N, H, W) score maps to (N, *size) (mask resolution)."""
    t = torch.as_tensor(maps, dtype=torch.float32)[:, None]
    if tuple(t.shape[2:]) == tuple(size):
        return np.asarray(maps)
    return F.interpolate(t, size=size, mode="bilinear", align_corners=False)[:, 0].numpy()


def load_detector(folder: str | Path) -> EnergyDetector | FeatureMapDetector:
    """Restore a detector saved by ``save(folder)`` (vector or feature-map)."""
    state = read_saved(folder)
    inner = load_vector_detector(state)
    fm = state.get("feature_map")
    if isinstance(fm, dict):
        det = FeatureMapDetector(inner, top_k=int(fm.get("top_k", 1)))  # files before top_k: the max
        det.channels = int(fm["channels"])
        return det
    return inner


__all__ = ["FeatureMapDetector", "image_scores", "load_detector", "locations", "upsample_maps"]
