"""Anomaly detection with energy-based models trained by DxMI (and by MCMC or VGS negatives).

PyOD's convention: ``fit(X_normal)``, ``decision_function(X)`` -> scores, higher = more anomalous.

- :class:`DxMIDetector` / :class:`LangevinEBMDetector` / :class:`VGSEBMDetector` -- vectors
  (tabular data, image features).
- :class:`FeatureMapDetector` -- (N, C, H, W) feature maps: per-location energies give an image
  score and a localisation map.
- :mod:`dxmi.anomaly.data` -- ADBench loaders, the semi-supervised split, feature-map files.
"""

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
