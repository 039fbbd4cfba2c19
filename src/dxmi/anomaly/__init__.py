"""Anomaly detection with energy-based models trained by DxMI (and by MCMC or VGS negatives).

PyOD's convention: ``fit(X_normal)``, ``decision_function(X)`` -> scores, higher = more anomalous.

- :class:`DxMIDetector` / :class:`LangevinEBMDetector` / :class:`VGSEBMDetector` -- vectors
  (tabular data, image features); scikit-learn estimators and PyOD detectors
  (:mod:`dxmi.anomaly.estimator`).
- :class:`FeatureMapDetector` -- (N, C, H, W) feature maps: per-location energies give an image
  score and a localisation map.
- :mod:`dxmi.anomaly.data` -- ADBench loaders, the semi-supervised split, feature-map files.

The names below are imported on first use: ``import dxmi.anomaly.cli`` (every ``dxmi`` command
line) loads neither the detectors nor PyOD / scikit-learn, which they import when PyOD is installed.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_WHERE = {
    "DETECTORS": "detector", "DetectorConfig": "detector", "DxMIDetector": "detector",
    "DxMIDetectorConfig": "detector", "EnergyDetector": "detector", "LangevinDetectorConfig": "detector",
    "LangevinEBMDetector": "detector", "VGSDetectorConfig": "detector", "VGSEBMDetector": "detector",
    "make_detector": "detector",
    "FeatureMapDetector": "feature_maps", "image_scores": "feature_maps", "load_detector": "feature_maps",
    "upsample_maps": "feature_maps",
    "Standardizer": "inputs",
}

if TYPE_CHECKING:
    from dxmi.anomaly.detector import (
        DETECTORS,
        DetectorConfig,
        DxMIDetector,
        DxMIDetectorConfig,
        EnergyDetector,
        LangevinDetectorConfig,
        LangevinEBMDetector,
        VGSDetectorConfig,
        VGSEBMDetector,
        make_detector,
    )
    from dxmi.anomaly.feature_maps import FeatureMapDetector, image_scores, load_detector, upsample_maps
    from dxmi.anomaly.inputs import Standardizer


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{_WHERE[name]}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


__all__ = [
    "DETECTORS",
    "DetectorConfig",
    "DxMIDetector",
    "DxMIDetectorConfig",
    "EnergyDetector",
    "FeatureMapDetector",
    "image_scores",
    "LangevinDetectorConfig",
    "LangevinEBMDetector",
    "Standardizer",
    "load_detector",
    "make_detector",
    "upsample_maps",
    "VGSDetectorConfig",
    "VGSEBMDetector",
]
