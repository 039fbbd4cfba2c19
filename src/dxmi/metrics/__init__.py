"""Sample-quality metrics. Inputs are ``(n, D)`` torch tensors or numpy arrays; results are
python floats (or small frozen dataclasses). OT metrics need the optional ``metrics`` extra
(``pip install dxmi[metrics]``)."""

from __future__ import annotations

from dxmi.metrics.density import DensityError, density_error, tvd_energy
from dxmi.metrics.frechet import frechet_distance, frechet_distance_from_stats
from dxmi.metrics.modes import ModeStats, PrecisionRecall, mode_statistics, precision_recall
from dxmi.metrics.sample import energy_distance, mmd, sliced_wasserstein
from dxmi.metrics.transport import emd, sinkhorn, wasserstein2
from dxmi.metrics.vgs import (
    ParticleMetrics,
    SyntheticMetrics,
    delta_std,
    particle_metrics,
    synthetic_metrics,
    tvd_distances,
)

__all__ = [
    "DensityError",
    "ParticleMetrics",
    "SyntheticMetrics",
    "delta_std",
    "particle_metrics",
    "synthetic_metrics",
    "tvd_distances",
    "ModeStats",
    "PrecisionRecall",
    "density_error",
    "emd",
    "energy_distance",
    "frechet_distance",
    "frechet_distance_from_stats",
    "mmd",
    "mode_statistics",
    "precision_recall",
    "sinkhorn",
    "sliced_wasserstein",
    "tvd_energy",
    "wasserstein2",
]
