"""Image grids: one labelled panel per method, wrapped into rows instead of one long strip."""

from __future__ import annotations

import pytest
import torch

from dxmi.viz.images import image_grid, plot_image_grids


def test_image_grid_tiles_images_with_a_one_pixel_border() -> None:
    x = torch.rand(10, 1, 8, 8) * 2 - 1
    g = image_grid(x)  # 10 images: 4 columns, 3 rows, the last two tiles blank
    assert g.shape == (3 * 9 + 1, 4 * 9 + 1, 1)
    assert float(g.min()) >= 0.0 and float(g.max()) <= 1.0
    assert abs(float(g[1:9, 1:9, 0].mean()) - float((x[0, 0] + 1).mean() / 2)) < 1e-6  # [-1, 1] -> [0, 1]


def test_panels_wrap_into_rows(tmp_path) -> None:
    pytest.importorskip("matplotlib")
    from PIL import Image

    gen = torch.Generator().manual_seed(0)
    samples = {f"method {i} · NFE 4": torch.rand(16, 1, 8, 8, generator=gen) for i in range(8)}
    one_row = plot_image_grids(samples, tmp_path / "strip.png", per_row=8)
    wrapped = plot_image_grids(samples, tmp_path / "grid.png", title="digits", per_row=3)
    with Image.open(one_row) as a, Image.open(wrapped) as b:
        assert a.width / a.height > 5  # the strip that people cannot read
        assert b.width / b.height < 1.5  # 3 rows of 3 panels (the last row's spare panel blank)
    with pytest.raises(ValueError, match="per_row"):
        plot_image_grids(samples, tmp_path / "bad.png", per_row=0)
