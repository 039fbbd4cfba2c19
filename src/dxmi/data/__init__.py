"""Datasets: synthetic 2-D densities and user point clouds."""

from __future__ import annotations

from dxmi.data.files import PointCloudDataset, load_point_cloud
from dxmi.data.toy2d import (
    TOY2D,
    Checkerboard,
    EightGaussians,
    Moons,
    Pinwheel,
    Rings,
    SwissRoll,
    Toy2D,
    TwoSpirals,
    make_toy2d,
)

__all__ = [
    "TOY2D",
    "Checkerboard",
    "EightGaussians",
    "Moons",
    "Pinwheel",
    "PointCloudDataset",
    "Rings",
    "SwissRoll",
    "Toy2D",
    "TwoSpirals",
    "load_point_cloud",
    "make_toy2d",
]
