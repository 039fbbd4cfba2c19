"""2D plots. Each function writes one PNG and returns its path."""

from __future__ import annotations

import csv
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from dxmi.io import reading


def _plt() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig: Any, path: str | Path, dpi: int = 110) -> Path:
    """Lay out, write (creating folders) and close a figure; return its path."""
    plt = _plt()
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi)
    plt.close(fig)
    return path


def _square(ax: Any, lim: float) -> None:
    ax.set_xlim(-lim, lim)
    ax.set_ylim(-lim, lim)
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])


def _np(x: Tensor | np.ndarray) -> np.ndarray:
    return x.detach().cpu().numpy() if isinstance(x, Tensor) else np.asarray(x)


def plot_samples(samples: Mapping[str, Tensor | np.ndarray], data: Tensor | np.ndarray, path: str | Path,
                 lim: float = 4.5) -> Path:
    """One panel for the data and one per sampler, same axes."""
    plt = _plt()
    items = [("data", data), *samples.items()]
    fig, axes = plt.subplots(1, len(items), figsize=(3.2 * len(items), 3.2), squeeze=False)
    for ax, (name, pts) in zip(axes[0], items):
        p = _np(pts)[:, :2]
        ax.scatter(p[:, 0], p[:, 1], s=1, alpha=0.4, color="k" if name == "data" else "C0")
        ax.set_title(name)
        _square(ax, lim)
    return save_figure(fig, path)


def plot_energy(energy: Callable[[Tensor], Tensor], path: str | Path, data: Tensor | None = None,
                lim: float = 4.5, resolution: int = 150) -> Path:
    """exp(-E) and E on a grid (with data points over the density)."""
    plt = _plt()
    g = torch.linspace(-lim, lim, resolution)
    xx, yy = torch.meshgrid(g, g, indexing="xy")
    pts = torch.stack([xx.reshape(-1), yy.reshape(-1)], 1)
    with torch.no_grad():
        e = energy(pts).reshape(resolution, resolution).cpu()
    dens = torch.exp(-(e - e.min()))
    fig, axes = plt.subplots(1, 2, figsize=(7, 3.4))
    axes[0].imshow(dens.numpy(), origin="lower", extent=(-lim, lim, -lim, lim), cmap="viridis")
    axes[0].set_title("exp(-E) (model density)")
    im = axes[1].imshow(e.numpy(), origin="lower", extent=(-lim, lim, -lim, lim), cmap="magma")
    axes[1].set_title("energy E")
    fig.colorbar(im, ax=axes[1], fraction=0.046)
    if data is not None:
        d = _np(data)[:500]
        axes[1].scatter(d[:, 0], d[:, 1], s=0.5, c="w", alpha=0.5)
    for ax in axes:
        ax.set_xticks([])
        ax.set_yticks([])
    return save_figure(fig, path)


def plot_trajectories(states: Tensor, path: str | Path, lim: float = 4.5, n_paths: int = 40) -> Path:
    """states (T + 1, B, 2): one panel per x_t (t = 0 noise ... T samples) and a panel of paths."""
    plt = _plt()
    s = _np(states)
    T1 = s.shape[0]
    fig, axes = plt.subplots(1, T1 + 1, figsize=(2.4 * (T1 + 1), 2.6), squeeze=False)
    for t in range(T1):
        ax = axes[0][t]
        ax.scatter(s[t, :, 0], s[t, :, 1], s=1, alpha=0.4)
        ax.set_title(f"x_{t}")
    ax = axes[0][T1]
    for b in range(min(n_paths, s.shape[1])):
        ax.plot(s[:, b, 0], s[:, b, 1], lw=0.6, alpha=0.7)
    ax.set_title("paths")
    for ax in axes[0]:
        _square(ax, lim)
    return save_figure(fig, path, dpi=100)


def plot_learning_curves(csv_path: str | Path, path: str | Path, keys: list[str] | None = None) -> Path:
    """Curves of the metrics in a training CSV log."""
    plt = _plt()
    with reading(csv_path, "metrics CSV", allow_empty=True) as p, open(p) as f:
        rows = list(csv.DictReader(f))
    if not rows:
        raise ValueError(f"{csv_path} has no rows")
    keys = keys or [k for k in rows[0] if k != "step"][:8]
    steps = [float(r["step"]) for r in rows]
    fig, axes = plt.subplots(1, len(keys), figsize=(3 * len(keys), 2.6), squeeze=False)
    for ax, k in zip(axes[0], keys):
        vals = [float(r[k]) if r.get(k) not in (None, "") else np.nan for r in rows]
        ax.plot(steps, vals)
        ax.set_title(k, fontsize=8)
        ax.tick_params(labelsize=7)
    return save_figure(fig, path, dpi=100)
