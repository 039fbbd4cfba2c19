"""Plots of a VGS run: samples over the target density (2D), energy histograms, trajectories."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from dxmi.targets.base import Target
from dxmi.viz.labels import DATA_COLOUR, SAMPLER_COLOURS
from dxmi.viz.plots import _plt
from dxmi.viz.plots import save_figure as _save


def _density_grid(target: Target, r: float, n: int = 200) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    ticks = torch.linspace(-r, r, n)
    grid = torch.cartesian_prod(ticks, ticks)
    with torch.no_grad():
        logp = -target(grid).reshape(n, n)
    p = torch.exp(logp - logp.max()).T.numpy()
    return ticks.numpy(), ticks.numpy(), p


def plot_samples_over_density(target: Target, samples: Tensor, path: str | Path) -> Path:
    """Samples ``(n, 2)`` scattered over the contours of ``exp(-E)``."""
    plt = _plt()
    r = target.plot_range
    xs, ys, p = _density_grid(target, r)
    fig, ax = plt.subplots(figsize=(5, 5))
    ax.contourf(xs, ys, p, levels=20, cmap="Blues")
    s = samples.numpy()
    ax.scatter(s[:, 0], s[:, 1], s=2, color=SAMPLER_COLOURS[1], alpha=0.5, label=f"VGS samples ({len(s)})")
    ax.set_xlim(-r, r)
    ax.set_ylim(-r, r)
    ax.set_xlabel("x₁")
    ax.set_ylabel("x₂")
    ax.legend(loc="upper right", markerscale=4)
    ax.set_title(f"VGS samples over exp(-E) (shaded): {target.name}")
    return _save(fig, path)


def plot_energy_histograms(target: Target, samples: Tensor, reference: Tensor | None, path: str | Path) -> Path:
    """Histograms of ``E`` on the samples (and on reference samples when given)."""
    plt = _plt()
    with torch.no_grad():
        e = target(samples).numpy()
        e_ref = target(reference).numpy() if reference is not None else None
    lo, hi = np.percentile(e_ref if e_ref is not None else e, [0.5, 99.5])
    fig, ax = plt.subplots(figsize=(5, 3.5))
    bins = np.linspace(lo, hi, 60)
    ax.hist(np.clip(e, lo, hi), bins=bins, alpha=0.6, density=True, color=SAMPLER_COLOURS[0],
            label=f"VGS samples ({len(e)})")
    if e_ref is not None:
        ax.hist(e_ref, bins=bins, alpha=0.6, density=True, color=DATA_COLOUR,
                label=f"reference draws ({len(e_ref)})")
    ax.set_xlabel("energy E(x) (clipped to the reference's 0.5-99.5 % range)")
    ax.set_ylabel("density")
    ax.set_title(f"energy of the samples: {target.name}")
    ax.legend()
    return _save(fig, path)


def plot_vgs_trajectories(target: Target, states: Tensor, path: str | Path, n: int = 50) -> Path:
    """Paths of ``n`` chains ``states (T + 1, B, 2)`` over the density contours."""
    plt = _plt()
    r = target.plot_range
    xs, ys, p = _density_grid(target, r)
    fig, ax = plt.subplots(figsize=(5, 5))
    ax.contour(xs, ys, p, levels=10, cmap="Greys", linewidths=0.5)
    s = states[:, :n].numpy()
    for i in range(s.shape[1]):
        ax.plot(s[:, i, 0], s[:, i, 1], lw=0.6, alpha=0.7)
    ax.scatter(s[0, :, 0], s[0, :, 1], s=6, c="k", label="x_0 (start)")
    ax.scatter(s[-1, :, 0], s[-1, :, 1], s=6, color=SAMPLER_COLOURS[1], label="x_T (sample)")
    ax.set_xlim(-r, r)
    ax.set_ylim(-r, r)
    ax.set_xlabel("x₁")
    ax.set_ylabel("x₂")
    ax.set_title(f"{s.shape[1]} VGS paths over exp(-E): {target.name}")
    ax.legend(loc="upper right")
    return _save(fig, path)
