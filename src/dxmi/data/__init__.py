"""Datasets: synthetic 2-D densities and user point clouds."""

from __future__ import annotations

from dxmi.data import toy2d
from dxmi.data.files import PointCloudDataset, load_point_cloud
from dxmi.data.toy2d import *  # noqa: F403 - every public name of toy2d (its __all__) is the package's too

__all__ = ["PointCloudDataset", "load_point_cloud"]
__all__ += toy2d.__all__
