"""Image data sets from files: an image folder, ``.npy`` / ``.npz`` arrays, the CIFAR-10 python batches.

Every loader returns an :class:`~dxmi.data.images.ImageDataset` (alias ``ImageData``): float32
images ``(N, C, H, W)`` in [-1, 1] (the range the diffusion models are trained on), optional integer
labels and class names. Bad input fails with one line that names the file and the problem (missing
file, wrong shape, NaN, ...).

- :func:`load_image_folder`: PNG / JPEG / BMP / WebP files (PIL), either flat or one subfolder per
  class (the sorted subfolder names become labels 0..K-1).
- :func:`load_image_array`: an array ``(N, H, W, C)``, ``(N, C, H, W)`` or ``(N, H, W)``; uint8
  (0..255) or float (range inferred: [0, 1], [-1, 1] or [0, 255], or given).
- :func:`load_cifar10`: the ``cifar-10-batches-py`` folder of the official python release
  (``data_batch_1`` .. ``data_batch_5``, ``test_batch``, ``batches.meta``), read with an unpickler
  that only admits numpy arrays (the batches are pickles; nothing else in them is executed).
"""

from __future__ import annotations

import io
import os
import pickle
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from dxmi.data.images import IMAGE_CHANNELS, ImageDataset
from dxmi.io import check_file, load_npy, load_npz, reading

__all__ = [
    "IMAGE_SUFFIXES",
    "ImageData",
    "load_cifar10",
    "load_image_array",
    "load_image_folder",
    "load_images",
    "to_unit_range",
]

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp")
_IMAGE_KEYS = ("images", "x", "X", "data", "arr_0")
_LABEL_KEYS = ("labels", "y", "Y", "targets")


# The loaders' record is the package's one image-set type (kept importable under this name).
ImageData = ImageDataset


# -- value ranges ------------------------------------------------------------------------------------
def to_unit_range(arr: np.ndarray, value_range: tuple[float, float] | None = None, name: str = "array",
                  clip: bool = False) -> Tensor:
    """Pixel values -> float32 in [-1, 1]. uint8 is read as 0..255; floats are read in
    ``value_range`` or, when it is None, in [0, 1], [-1, 1] or [0, 255] (the first that holds
    every value). Values outside ``value_range`` are an error, or clipped with ``clip`` (generated
    samples that overshoot [-1, 1] a little)."""
    if arr.dtype == np.bool_ or not np.issubdtype(arr.dtype, np.number):
        raise ValueError(f"{name}: expected numeric pixel values, got dtype {arr.dtype}")
    x = arr.astype(np.float64, copy=False)
    bad = int((~np.isfinite(x)).sum())
    if bad:
        raise ValueError(f"{name}: {bad} pixel values are NaN or infinite")
    lo_v, hi_v = float(x.min()), float(x.max())
    if value_range is None:
        if arr.dtype == np.uint8 or np.issubdtype(arr.dtype, np.integer):
            value_range = (0.0, 255.0)
        else:
            value_range = next(((a, b) for a, b in ((0.0, 1.0), (-1.0, 1.0), (0.0, 255.0))
                                if lo_v >= a and hi_v <= b), None)
            if value_range is None:
                raise ValueError(f"{name}: values span [{lo_v:g}, {hi_v:g}], which is none of [0, 1], [-1, 1], "
                                 "[0, 255]; pass value_range=(low, high) (dxmi fid: --range LOW HIGH)")
    lo, hi = float(value_range[0]), float(value_range[1])
    if not hi > lo:
        raise ValueError(f"{name}: value_range must have low < high, got {value_range}")
    if clip:
        x = np.clip(x, lo, hi)
    elif lo_v < lo or hi_v > hi:
        raise ValueError(f"{name}: values span [{lo_v:g}, {hi_v:g}], outside value_range [{lo:g}, {hi:g}]")
    return torch.from_numpy((2.0 * (x - lo) / (hi - lo) - 1.0).astype(np.float32))


def _to_nchw(arr: np.ndarray, layout: str, name: str) -> np.ndarray:
    if arr.ndim == 3:
        return arr[:, None]
    if arr.ndim != 4:
        raise ValueError(f"{name}: expected images (N, H, W, C), (N, C, H, W) or (N, H, W), got shape {arr.shape}")
    if layout == "auto":
        first, last = arr.shape[1] in IMAGE_CHANNELS, arr.shape[3] in IMAGE_CHANNELS
        if first and last:
            raise ValueError(f"{name}: shape {arr.shape} is ambiguous between NCHW and NHWC; pass layout='nchw' "
                             "or 'nhwc'")
        if not (first or last):
            raise ValueError(f"{name}: shape {arr.shape} has no channel axis of size 1 or 3 (first or last)")
        layout = "nchw" if first else "nhwc"
    if layout == "nhwc":
        arr = arr.transpose(0, 3, 1, 2)
    elif layout != "nchw":
        raise ValueError(f"layout must be 'auto', 'nchw' or 'nhwc', got {layout!r}")
    if arr.shape[1] not in IMAGE_CHANNELS:
        raise ValueError(f"{name}: {arr.shape[1]} channels; expected 1 (grey) or 3 (RGB)")
    return np.ascontiguousarray(arr)


def _labels(y: Any, n: int, name: str) -> Tensor:
    lab = np.asarray(y)
    if lab.shape != (n,) or not np.issubdtype(lab.dtype, np.integer):
        raise ValueError(f"{name}: expected {n} integer labels, got shape {lab.shape} dtype {lab.dtype}")
    if n and int(lab.min()) < 0:
        raise ValueError(f"{name}: labels must be >= 0, got min {int(lab.min())}")
    return torch.from_numpy(lab.astype(np.int64))


# -- arrays ----------------------------------------------------------------------------------------
def load_image_array(path: str | os.PathLike[str], key: str | None = None, layout: str = "auto",
                     value_range: tuple[float, float] | None = None, clip: bool = False) -> ImageData:
    """Images from a ``.npy`` array or a ``.npz`` archive (images under ``key``, else under one of
    images / x / X / data / arr_0; labels, when present, under labels / y / Y / targets).
    ``value_range`` and ``clip``: see :func:`to_unit_range`."""
    p = check_file(path, "image array", allow_empty=True)
    labels = None
    if p.suffix == ".npy":
        arr = load_npy(p, "image array")
    elif p.suffix == ".npz":
        z = load_npz(p, "image archive")
        names = list(z)
        k = key or next((c for c in _IMAGE_KEYS if c in names), names[0] if len(names) == 1 else None)
        if k is None or k not in names:
            raise ValueError(f"{p}: no image array {key or _IMAGE_KEYS!r} in the archive (has {names}); pass key=")
        arr = z[k]
        lk = next((c for c in _LABEL_KEYS if c in names and c != k), None)
        if lk is not None:
            labels = _labels(z[lk], arr.shape[0] if arr.ndim else 0, f"{p}[{lk}]")
    else:
        raise ValueError(f"{p}: unsupported file type {p.suffix!r}; use .npy or .npz")
    if clip and value_range is None:
        raise ValueError("clip=True needs an explicit value_range")
    x = to_unit_range(_to_nchw(arr, layout, str(p)), value_range, str(p), clip=clip)
    return ImageData(torch.as_tensor(x), labels, Path(path).name)


# -- image folders ----------------------------------------------------------------------------------
def _image_files(folder: Path) -> list[Path]:
    return sorted(f for f in folder.iterdir() if f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES)


def load_image_folder(path: str | os.PathLike[str], size: int | Sequence[int] | None = None,
                      mode: str | None = None) -> ImageData:
    """Every image of a folder, or of its class subfolders (sorted names -> labels 0..K-1).

    Args:
        size: resize every image to ``size`` (int or (H, W), bicubic) ; without it all images must
            have the same size.
        mode: ``"RGB"`` or ``"L"`` (grey); default: ``"L"`` when every image is grey, else ``"RGB"``.
    """
    from PIL import Image

    root = Path(path)
    if not root.is_dir():
        raise FileNotFoundError(f"image folder not found: {root}")
    if mode not in (None, "RGB", "L"):
        raise ValueError(f"mode must be 'RGB', 'L' or None, got {mode!r}")
    flat = _image_files(root)
    subdirs = sorted(d for d in root.iterdir() if d.is_dir() and _image_files(d))
    if flat and subdirs:
        raise ValueError(f"{root}: has images both at the top level and in subfolders {[d.name for d in subdirs]}; "
                         "use one layout (flat, or one subfolder per class)")
    groups = [(0, flat)] if flat else [(i, _image_files(d)) for i, d in enumerate(subdirs)]
    files = [(lab, f) for lab, fs in groups for f in fs]
    if not files:
        raise ValueError(f"{root}: no images ({', '.join(IMAGE_SUFFIXES)}) at the top level or in subfolders")
    hw = None if size is None else ((int(size), int(size)) if isinstance(size, int) else (int(size[0]), int(size[1])))
    pil = []
    for _, f in files:
        with reading(f, "image"), Image.open(f) as im:
            im.load()
            pil.append(im.copy())
    if mode is None:
        mode = "L" if all(im.mode in ("L", "1", "I;16", "I") for im in pil) else "RGB"
    arrays: list[np.ndarray] = []
    for (_, f), im in zip(files, pil):
        im = im.convert(mode)
        if hw is not None and (im.height, im.width) != hw:
            im = im.resize((hw[1], hw[0]), Image.Resampling.BICUBIC)
        a = np.asarray(im, dtype=np.uint8)
        if arrays and a.shape != arrays[0].shape:
            raise ValueError(f"{f}: size {a.shape[:2]} differs from {arrays[0].shape[:2]} of {files[0][1].name}; "
                             "pass size= to resize")
        arrays.append(a)
    stack = np.stack(arrays)
    x = to_unit_range(_to_nchw(stack, "nhwc" if stack.ndim == 4 else "auto", str(root)), (0, 255), str(root))
    if flat:
        return ImageData(x, None, root.name)
    return ImageData(x, torch.tensor([lab for lab, _ in files], dtype=torch.int64), root.name,
                     tuple(d.name for d in subdirs))


# -- CIFAR-10 -----------------------------------------------------------------------------------------
CIFAR10_TRAIN = tuple(f"data_batch_{i}" for i in range(1, 6))
CIFAR10_TEST = ("test_batch",)


class _ArrayUnpickler(pickle.Unpickler):
    """Admits only what a CIFAR batch holds: dicts, lists, bytes, numbers and numpy arrays."""

    _ALLOWED = {("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
                ("numpy", "ndarray"), ("numpy", "dtype"), ("numpy.core.multiarray", "scalar"),
                ("numpy._core.multiarray", "scalar"), ("_codecs", "encode")}

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in self._ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name} from a data batch")
        if module.startswith("numpy.core.") and hasattr(np, "_core"):  # numpy 2 moved numpy.core
            module = "numpy._core." + module[len("numpy.core."):]
        return super().find_class(module, name)


def _read_batch(path: Path) -> dict[str, Any]:
    with reading(path, "CIFAR python batch"):
        obj = _ArrayUnpickler(io.BytesIO(path.read_bytes()), encoding="bytes").load()
    if not isinstance(obj, dict):
        raise ValueError(f"{path}: not a CIFAR python batch (a {type(obj).__name__}, expected a dict)")
    return {(k.decode() if isinstance(k, bytes) else str(k)): v for k, v in obj.items()}


def load_cifar10(root: str | os.PathLike[str], split: str = "train") -> ImageData:
    """CIFAR-10 from the official python batches: ``train`` (50,000 images) or ``test`` (10,000).

    ``root`` is the ``cifar-10-batches-py`` folder or its parent.
    """
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    folder = Path(root)
    if (folder / "cifar-10-batches-py").is_dir():
        folder = folder / "cifar-10-batches-py"
    if not folder.is_dir():
        raise FileNotFoundError(f"CIFAR-10 folder not found: {folder}")
    names = CIFAR10_TRAIN if split == "train" else CIFAR10_TEST
    missing = [n for n in names if not (folder / n).is_file()]
    if missing:
        raise FileNotFoundError(f"{folder}: missing CIFAR-10 batch file(s) {missing}")
    images, labels = [], []
    for n in names:
        batch = _read_batch(folder / n)
        if "data" not in batch or "labels" not in batch:
            raise ValueError(f"{folder / n}: expected keys 'data' and 'labels', found {sorted(batch)}")
        data = np.asarray(batch["data"])
        if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3 * 32 * 32:
            raise ValueError(f"{folder / n}: expected data (n, 3072) uint8, got shape {data.shape} dtype {data.dtype}")
        images.append(data.reshape(-1, 3, 32, 32))
        labels.append(_labels(batch["labels"], data.shape[0], str(folder / n)))
    classes: tuple[str, ...] = ()
    meta = folder / "batches.meta"
    if meta.is_file():
        names_raw = _read_batch(meta).get("label_names", [])
        classes = tuple(c.decode() if isinstance(c, bytes) else str(c) for c in names_raw)
    x = to_unit_range(np.concatenate(images), (0, 255), str(folder))
    y = torch.cat(labels)
    if classes and int(y.max()) >= len(classes):
        raise ValueError(f"{folder}: label {int(y.max())} but batches.meta names {len(classes)} classes")
    return ImageData(x, y, "cifar10-" + split, classes)


def load_images(path: str | os.PathLike[str], **kwargs: Any) -> ImageData:
    """Dispatch on what ``path`` is: ``.npy`` / ``.npz`` -> :func:`load_image_array`; a CIFAR-10
    batch folder -> :func:`load_cifar10`; another folder -> :func:`load_image_folder`."""
    p = Path(path)
    if p.suffix in (".npy", ".npz"):
        return load_image_array(p, **kwargs)
    if not p.exists():
        raise FileNotFoundError(f"image data not found: {p}")
    if p.is_dir() and ((p / "cifar-10-batches-py").is_dir() or (p / "data_batch_1").is_file()
                       or (p / "test_batch").is_file()):
        return load_cifar10(p, **kwargs)
    return load_image_folder(p, **kwargs)
