"""Anomaly-score plots."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from dxmi.viz.labels import SAMPLER_COLOURS
from dxmi.viz.plots import _plt, save_figure


def plot_score_histogram(scores: np.ndarray, path: str | Path, labels: np.ndarray | None = None,
                         threshold: float | None = None, title: str = "anomaly scores") -> Path:
    """Histogram of scores (normal vs anomalous when labels are given), with the threshold line."""
    plt = _plt()
    s = np.asarray(scores, dtype=np.float64)
    fig, ax = plt.subplots(figsize=(6, 3.6))
    bins = np.histogram_bin_edges(s, bins=50)
    if labels is None:
        ax.hist(s, bins=bins, color=SAMPLER_COLOURS[0], alpha=0.8, label="all")
    else:
        y = np.asarray(labels).astype(bool)
        ax.hist(s[~y], bins=bins, color=SAMPLER_COLOURS[0], alpha=0.6, label=f"normal ({int((~y).sum())})",
                density=True)
        ax.hist(s[y], bins=bins, color=SAMPLER_COLOURS[1], alpha=0.6, label=f"anomaly ({int(y.sum())})",
                density=True)
    if threshold is not None:
        ax.axvline(threshold, color="k", ls="--", lw=1, label="threshold")
    ax.set_xlabel("score (energy; higher = more anomalous)")
    ax.set_ylabel("density" if labels is not None else "count")
    ax.set_title(title)
    ax.legend(fontsize=8)
    return save_figure(fig, path)
