"""2D plots. Each function writes one PNG and returns its path."""

from __future__ import annotations

import csv
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from dxmi.io import reading
from dxmi.viz.labels import DATA_COLOUR, PALETTE, SAMPLER_COLOURS, metric_info


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
                 lim: float = 4.5, max_points: int = 3000, colours: Sequence[str] | None = None) -> Path:
    """A panel of the data, then one per sampler (named with its NFE by the caller) with the data
    underneath in grey; same axes, colour-blind-safe colours (``colours``: one per sampler, e.g.
    :func:`dxmi.viz.labels.sampler_colour`; default: the palette in order), a legend in every panel."""
    plt = _plt()
    d = _np(data)[:max_points, :2]
    fig, axes = plt.subplots(1, len(samples) + 1, figsize=(3.3 * (len(samples) + 1), 3.6), squeeze=False)
    ax = axes[0][0]
    ax.scatter(d[:, 0], d[:, 1], s=1, alpha=0.5, color=PALETTE[0], label=f"data ({len(d)})", rasterized=True)
    ax.set_title("data", fontsize=9)
    for i, (ax, (name, pts)) in enumerate(zip(axes[0][1:], samples.items())):
        p = _np(pts)[:max_points, :2]
        ax.scatter(d[:, 0], d[:, 1], s=1, alpha=0.25, color=DATA_COLOUR, label="data", rasterized=True)
        colour = colours[i] if colours is not None else SAMPLER_COLOURS[i % len(SAMPLER_COLOURS)]
        ax.scatter(p[:, 0], p[:, 1], s=1, alpha=0.5, color=colour,
                   label=f"samples ({len(p)})", rasterized=True)
        ax.set_title(name, fontsize=9)
    for ax in axes[0]:
        _square(ax, lim)
        ax.set_xlabel("$x_1$", fontsize=8)
        ax.set_ylabel("$x_2$", fontsize=8)
        ax.legend(loc="upper right", fontsize=7, markerscale=6, framealpha=0.8)
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
    axes[1].set_title("energy E (low = likely)")
    fig.colorbar(im, ax=axes[1], fraction=0.046)
    if data is not None:
        d = _np(data)[:500]
        axes[1].scatter(d[:, 0], d[:, 1], s=0.5, c="w", alpha=0.5)
    for ax in axes:
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_xlabel("$x_1$", fontsize=8)
        ax.set_ylabel("$x_2$", fontsize=8)
    return save_figure(fig, path)


def plot_trajectories(states: Tensor, path: str | Path, lim: float = 4.5, n_paths: int = 40) -> Path:
    """states (T + 1, B, 2): one panel per x_t (t = 0 noise ... T samples) and a panel of paths."""
    plt = _plt()
    s = _np(states)
    T1 = s.shape[0]
    fig, axes = plt.subplots(1, T1 + 1, figsize=(2.4 * (T1 + 1), 2.6), squeeze=False)
    for t in range(T1):
        ax = axes[0][t]
        ax.scatter(s[t, :, 0], s[t, :, 1], s=1, alpha=0.4, color=SAMPLER_COLOURS[0], rasterized=True)
        ax.set_title(f"$x_{{{t}}}$" + (" (noise)" if t == 0 else " (samples)" if t == T1 - 1 else ""), fontsize=9)
    ax = axes[0][T1]
    for b in range(min(n_paths, s.shape[1])):
        ax.plot(s[:, b, 0], s[:, b, 1], lw=0.6, alpha=0.7, color=SAMPLER_COLOURS[b % len(SAMPLER_COLOURS)])
    ax.set_title(f"{min(n_paths, s.shape[1])} paths, t = 0..{T1 - 1}", fontsize=9)
    for ax in axes[0]:
        _square(ax, lim)
    return save_figure(fig, path, dpi=100)


def _moving_average(v: np.ndarray, window: int) -> np.ndarray:
    """Centred-ish running mean of the finite values (NaN where a window holds none)."""
    ok = np.isfinite(v)
    num = np.convolve(np.where(ok, v, 0.0), np.ones(window), mode="same")
    den = np.convolve(ok.astype(float), np.ones(window), mode="same")
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / np.maximum(den, 1), np.nan)


def plot_learning_curves(csv_path: str | Path, path: str | Path, keys: list[str] | None = None,
                         title: str | None = None, max_panels: int = 16, ncols: int = 4) -> Path:
    """The metrics of a training CSV log as a grid of labelled panels: per metric its name, unit and
    direction (e.g. "lower is better"), the training step on x; a running mean over the raw values
    when the log has 20 rows or more."""
    plt = _plt()
    with reading(csv_path, "metrics CSV", allow_empty=True) as p, open(p) as f:
        rows = list(csv.DictReader(f))
    if not rows:
        raise ValueError(f"{csv_path} has no rows")

    def column(k: str) -> np.ndarray:
        out = []
        for r in rows:
            try:
                out.append(float(r[k]) if r.get(k) not in (None, "") else np.nan)
            except ValueError:
                out.append(np.nan)
        return np.asarray(out, dtype=np.float64)

    keys = keys or [k for k in rows[0] if k != "step" and np.isfinite(column(k)).any()][:max_panels]
    if not keys:
        raise ValueError(f"{csv_path} has no metric columns")
    steps = column("step")
    ncols = min(ncols, len(keys))
    nrows = -(-len(keys) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(3.4 * ncols, 2.7 * nrows), squeeze=False)
    window = max(3, len(rows) // 20)
    for ax, k in zip(axes.flat, keys):
        info = metric_info(k)
        vals = column(k)
        smooth = len(rows) >= 20
        ax.plot(steps, vals, color=PALETTE[2] if smooth else PALETTE[5], lw=0.8, alpha=0.6 if smooth else 1.0,
                label="logged" if smooth else None, marker="o" if len(rows) < 5 else None, ms=3)
        if smooth:
            ax.plot(steps, _moving_average(vals, window), color=PALETTE[5], lw=1.6, label=f"mean of {window}")
            ax.legend(fontsize=6, loc="best")
        head = info.label + (f" {info.arrow}" if info.arrow else "")
        ax.set_title(head + (f"\n({info.direction_text})" if info.direction_text else ""), fontsize=8)
        ax.set_xlabel("training step", fontsize=7)
        ax.set_ylabel(f"{k}" + (f" [{info.unit}]" if info.unit else ""), fontsize=7)
        ax.tick_params(labelsize=6)
        ax.grid(alpha=0.3, lw=0.5)
    for ax in list(axes.flat)[len(keys):]:
        ax.set_visible(False)
    if title:
        fig.suptitle(title, fontsize=10)
    return save_figure(fig, path, dpi=100)
