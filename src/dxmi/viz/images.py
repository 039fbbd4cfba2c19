"""Sample grids for images. Each function writes one PNG and returns its path."""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path

import numpy as np
from torch import Tensor

from dxmi.viz.plots import _plt, save_figure


def image_grid(images: Tensor, ncol: int | None = None, pad: int = 1) -> np.ndarray:
    """Tile (N, C, H, W) images in [-1, 1] into one (rows*(H+pad), cols*(W+pad), C) array in [0, 1]."""
    if images.ndim != 4:
        raise ValueError(f"image_grid: expected (N, C, H, W), received {tuple(images.shape)}")
    x = ((images.detach().cpu().float().clamp(-1, 1) + 1) / 2).numpy()
    n, c, h, w = x.shape
    ncol = ncol or math.ceil(math.sqrt(n))
    nrow = math.ceil(n / ncol)
    grid = np.ones((nrow * (h + pad) + pad, ncol * (w + pad) + pad, c), dtype=np.float32)
    for i in range(n):
        r, k = divmod(i, ncol)
        grid[pad + r * (h + pad): pad + r * (h + pad) + h, pad + k * (w + pad): pad + k * (w + pad) + w] = (
            x[i].transpose(1, 2, 0))
    return grid


def plot_image_grids(samples: Mapping[str, Tensor], path: str | Path, title: str | None = None,
                     per_row: int = 6) -> Path:
    """One panel (a square grid of up to 64 images) per entry, ``per_row`` panels a row, titled by its
    key (the callers name the method and its NFE, e.g. ``DxMI (dxdp) · NFE 10``) and the number of images."""
    if per_row < 1:
        raise ValueError(f"per_row must be >= 1, got {per_row}")
    plt = _plt()
    names = list(samples)
    cols = max(1, min(per_row, len(names)))
    rows = max(1, -(-len(names) // cols))
    fig, axes = plt.subplots(rows, cols, figsize=(2.4 * cols, 2.9 * rows), squeeze=False)
    for ax in axes.flat[len(names):]:
        ax.axis("off")
    for ax, name in zip(axes.flat, names):
        g = image_grid(samples[name][:64])
        ax.imshow(g[..., 0] if g.shape[-1] == 1 else g, cmap="gray" if g.shape[-1] == 1 else None,
                  vmin=0, vmax=1, interpolation="nearest")
        ax.set_title(name.replace(" · ", "\n") if len(name) > 22 else name, fontsize=8)
        ax.set_xlabel(f"{min(len(samples[name]), 64)} images", fontsize=7)
        ax.set_xticks([])
        ax.set_yticks([])
    if title:
        fig.suptitle(title, fontsize=10)
    return save_figure(fig, path)


__all__ = ["image_grid", "plot_image_grids"]
