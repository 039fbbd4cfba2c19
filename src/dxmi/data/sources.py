"""Where a run's data come from: the dataset named by ``data.name`` and the Trainer's batch source.

``DATASETS`` maps names to builders (a user point cloud, image files, the bundled digits / MNIST);
other names fall through to the built-in 2D densities. A class-conditional run draws
(image, label) pairs as :class:`dxmi.records.LabelledBatch`. The builders read a run's settings
through :class:`RunSettings` (what :class:`dxmi.config.RunConfig` provides), so the data layer does
not depend on the run configuration.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
from torch import Tensor

from dxmi.data.files import DataScale, PointCloudDataset, load_point_cloud
from dxmi.data.images import IMAGE_DATASETS, ImageDataset, make_image_dataset
from dxmi.data.toy2d import make_toy2d
from dxmi.io import read_json, write_text_atomic
from dxmi.records import Batch, LabelledBatch
from dxmi.settings import ConfigError


class DataSection(Protocol):
    """The ``data`` section of a run's settings: a dataset ``name`` and, for files, a ``path``."""

    @property
    def name(self) -> str: ...

    @property
    def path(self) -> str | None: ...


class RunSettings(Protocol):
    """What the dataset builders read of a run's settings (:class:`dxmi.config.RunConfig` has it):
    the ``data`` section and the run folder ``out``."""

    @property
    def data(self) -> DataSection: ...

    @property
    def out(self) -> str: ...


# -- data ------------------------------------------------------------------------------------------
#: ``OUT/data_scale.json``: the standardisation of a point cloud run (mean per coordinate, one scale)
DATA_SCALE_FILE = "data_scale.json"


def _point_file(cfg: RunSettings) -> Any:
    """The point cloud of ``data.path``, standardised (:class:`DataScale`): models train on rows of
    mean 0 and RMS spread 1 whatever the file's units, and samples go back to those units through
    ``to_data_units``. The standardisation is the run's (``OUT/data_scale.json``, written when
    pretraining starts) when it has one, else fitted to the file."""
    if not cfg.data.path:
        raise ConfigError("data.name=file needs data.path (a .npy or .csv point cloud)")
    points = load_point_cloud(cfg.data.path, dtype=torch.float64)
    stored = Path(cfg.out) / DATA_SCALE_FILE
    if stored.is_file():
        scale = DataScale.from_dict(read_json(stored, "data scale"), str(stored))
        if len(scale.mean) != points.shape[1]:
            raise ConfigError(f"{stored} is for {len(scale.mean)}-D points but {cfg.data.path} holds "
                              f"{points.shape[1]}-D ones: the data changed since the run started; use a new --out")
    else:
        try:
            scale = DataScale.fit(points)
        except ValueError as e:  # no spread: say which file
            raise ValueError(f"{cfg.data.path}: {e}") from None
    return PointCloudDataset(points, scale)


def save_data_scale(dataset: Any, out: str | Path) -> None:
    """Record the standardisation of a point-cloud dataset in the run folder (nothing for other data)."""
    scale = getattr(dataset, "data_scale", None)
    if scale is not None:
        write_text_atomic(Path(out) / DATA_SCALE_FILE, json.dumps(scale.as_dict(), indent=2))


def clear_data_scale(out: str | Path) -> None:
    """Forget a run's standardisation (a fresh pretraining fits it to the data again)."""
    (Path(out) / DATA_SCALE_FILE).unlink(missing_ok=True)


def to_data_units(dataset: Any, x: Tensor) -> Tensor:
    """Samples of a model of ``dataset`` in the data's own units (point clouds are modelled
    standardised; other data as they are)."""
    convert = getattr(dataset, "to_data_units", None)
    return convert(x) if convert is not None else x


# name -> builder; 2D names fall through to make_toy2d. Other modules may register more.
def _image_dataset(name: str) -> Callable[[RunSettings], Any]:
    return lambda cfg: make_image_dataset(name)


def _image_files(cfg: RunSettings) -> ImageDataset:
    """``data.path``: an image folder, a ``.npy`` / ``.npz`` array or the CIFAR-10 python batches."""
    from dxmi.data.image_files import load_images

    if not cfg.data.path:
        raise ConfigError(f"data.name={cfg.data.name} needs data.path (an image folder, a .npy/.npz array "
                          "or the CIFAR-10 python batches)")
    return load_images(cfg.data.path)


DATASETS: dict[str, Callable[[RunSettings], Any]] = {
    "file": _point_file,
    "images": _image_files,
    "cifar10": _image_files,
    **{name: _image_dataset(name) for name in IMAGE_DATASETS},
}


def build_dataset(cfg: RunSettings) -> Any:
    """A dataset with ``sample(n, generator) -> (n, *S)``."""
    builder = DATASETS.get(cfg.data.name)
    return builder(cfg) if builder is not None else make_toy2d(cfg.data.name)


def data_shape(dataset: Any) -> tuple[int, ...]:
    """The shape of one sample: (D,) for point clouds, (C, H, W) for images."""
    shape = getattr(dataset, "sample_shape", None)
    return tuple(shape) if shape is not None else (int(getattr(dataset, "dim", 2)),)


def data_dim(dataset: Any) -> int:
    return int(np.prod(data_shape(dataset)))


def is_image_dataset(dataset: Any) -> bool:
    return isinstance(dataset, ImageDataset)



def data_source(dataset: Any, classes: int = 0) -> Callable[[int, torch.Generator], Batch]:
    """The Trainer's batch source: images alone (``classes = 0``), or (images, labels) as a
    :class:`LabelledBatch` for a class-conditional model with ``classes`` classes (the data must be
    labelled with at most that many classes)."""
    if classes == 0:
        return dataset.sample  # type: ignore[no-any-return]
    if not is_image_dataset(dataset):
        raise ConfigError("class-conditional training needs a labelled image dataset")
    dataset.require_labels("class-conditional training (pretrain.net.num_classes > 0)")
    if dataset.num_classes > classes:
        raise ConfigError(f"the data have {dataset.num_classes} classes but the model was built for {classes} "
                          "(pretrain.net.num_classes)")

    def labelled(n: int, generator: torch.Generator) -> Batch:
        return LabelledBatch(*dataset.sample_labelled(n, generator))

    return labelled


def balanced_labels(n: int, classes: int, device: str | torch.device = "cpu") -> Tensor | None:
    """Labels 0, 1, ..., K-1, 0, 1, ... for n class-conditional samples (None when unconditional)."""
    return torch.arange(n, device=device) % classes if classes > 0 else None
