"""Anomaly-detection data: the shared ADBench files, the semi-supervised split, feature maps.

ADBench protocol (``../shared/data/README.md``): train only on normal points, a seeded random 70 %
of those with y = 0; test on the remaining normal points plus all anomalies.

Feature maps (UniAD-style, per location): ``.pt`` holding a tensor (N, C, H, W) or a dict with
``features`` (N, C, H, W) and optional ``masks`` (N, H', W') / (N, 1, H', W') pixel masks and
``labels`` (N,); ``.npy`` holding the (N, C, H, W) array, with masks and labels in optional
sibling files ``<stem>_masks.npy`` and ``<stem>_labels.npy``; ``.npz`` with the same keys.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from dxmi.io import FileFormatError, check_file, load_npy, load_npz, load_torch, read_text, reading


@dataclass(frozen=True)
class Split:
    """A semi-supervised split: ``x_train`` (normal only), ``x_test`` and ``y_test`` (1 = anomaly)."""

    name: str
    x_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray


def semi_supervised_split(x: np.ndarray, y: np.ndarray, seed: int, name: str = "data",
                          train_fraction: float = 0.7) -> Split:
    """Seeded ``train_fraction`` of the normal points for training; the rest plus all anomalies to test."""
    x = np.asarray(x, dtype=np.float32)
    y = np.asarray(y).astype(np.int64).reshape(-1)
    if x.ndim != 2 or x.shape[0] != y.shape[0]:
        raise ValueError(f"{name}: expected X (n, d) and y (n,), received {x.shape} and {y.shape}")
    if not 0 < train_fraction < 1:
        raise ValueError(f"train_fraction must be in (0, 1), got {train_fraction}")
    normal = np.flatnonzero(y == 0)
    anomalous = np.flatnonzero(y == 1)
    if len(normal) < 2 or len(anomalous) < 1:
        raise ValueError(f"{name}: needs >= 2 normal and >= 1 anomalous points, has {len(normal)} / {len(anomalous)}")
    perm = np.random.default_rng(seed).permutation(normal)
    n_train = int(round(train_fraction * len(normal)))
    train, test = perm[:n_train], np.concatenate([perm[n_train:], anomalous])
    return Split(name, x[train], x[test], y[test])


def shared_data_root() -> Path:
    """``$DXMI_SHARED_DATA`` if set, else ``../shared/data`` next to the repository."""
    env = os.environ.get("DXMI_SHARED_DATA")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[3].parent / "shared" / "data"


COLLECTIONS = {"classical": "adbench/classical", "mvtec": "adbench/mvtec_resnet18"}


def dataset_name(path: Path, collection: str) -> str:
    """``38_thyroid.npz`` -> ``thyroid``; ``MVTec-AD_bottle.npz`` -> ``mvtec_bottle``."""
    if collection == "mvtec":
        return "mvtec_" + path.stem.split("_", 1)[1]
    return re.sub(r"^\d+_", "", path.stem)


def adbench_files(collection: str, root: str | Path | None = None) -> dict[str, Path]:
    """Name -> file of the shared ADBench ``classical`` or ``mvtec`` collection (sorted by name)."""
    if collection not in COLLECTIONS:
        raise ValueError(f"unknown collection {collection!r}; choose from {sorted(COLLECTIONS)}")
    folder = Path(root or shared_data_root()) / COLLECTIONS[collection]
    if not folder.is_dir():
        raise FileNotFoundError(f"ADBench data not found at {folder} (set DXMI_SHARED_DATA)")
    files = {dataset_name(p, collection): p for p in folder.glob("*.npz")}
    return dict(sorted(files.items(), key=lambda kv: kv[0].lower()))


def collection_of(name: str) -> str:
    """The ADBench collection a dataset name belongs to (``mvtec_*``: mvtec, else classical)."""
    return "mvtec" if name.startswith("mvtec_") else "classical"


def find_adbench(names: list[str] | None = None, root: str | Path | None = None) -> dict[str, Path]:
    """Name -> file of the ADBench datasets ``names`` (in that order), reading only the collection
    folders they belong to; ``None``: every dataset of the collection folders that exist. A missing
    folder is an error only when a requested dataset lives there (FileNotFoundError naming it); an
    unknown name is a ValueError listing the available ones."""
    if names is None:
        files: dict[str, Path] = {}
        for collection in COLLECTIONS:
            try:
                files.update(adbench_files(collection, root))
            except FileNotFoundError:
                continue
        if not files:
            folders = [str(Path(root or shared_data_root()) / c) for c in COLLECTIONS.values()]
            raise FileNotFoundError(f"ADBench data not found at {' or '.join(folders)} (set DXMI_SHARED_DATA)")
        return files
    available: dict[str, Path] = {}
    for collection in dict.fromkeys(collection_of(n) for n in names):
        available.update(adbench_files(collection, root))
    unknown = [n for n in names if n not in available]
    if unknown:
        raise ValueError(f"unknown dataset(s) {unknown}; available: {sorted(available)}")
    return {n: available[n] for n in names}


def load_labelled(path: str | Path) -> tuple[np.ndarray, np.ndarray | None]:
    """(X, y) from ``.npz`` (keys X, y), ``.npy`` (X only) or ``.csv`` (numeric; a column named
    ``label`` / ``y`` / ``is_anomaly`` in a header row becomes y). y is None when absent.

    X must be a finite (n, d) array with n, d >= 1 (float32 on return) and y, when present, n labels
    0 (normal) or 1 (anomaly); anything else is a one-line error naming the file."""
    path = check_file(path, "data", allow_empty=True)
    if path.suffix == ".npz":
        d = load_npz(path, "data archive")
        if "X" not in d:
            raise ValueError(f"{path}: an .npz needs an array 'X' (and optionally 'y'); has {list(d.keys())}")
        return _checked(path, d["X"], d.get("y"))
    if path.suffix == ".npy":
        return _checked(path, load_npy(path, "data array"), None)
    if path.suffix == ".csv":
        lines = read_text(path, "CSV data").splitlines()
        if not any(ln.strip() for ln in lines):
            raise FileFormatError(f"{path}: the CSV data file is empty")
        first = lines[0].strip().split(",")
        has_header = any(not _is_number(c) for c in first)
        with reading(path, "CSV data"):
            arr = np.loadtxt(lines[1 if has_header else 0:], delimiter=",", ndmin=2)
        if has_header:
            names = [c.strip().strip('"').lower() for c in first]
            for label in ("label", "y", "is_anomaly"):
                if label in names:
                    j = names.index(label)
                    return _checked(path, np.delete(arr, j, axis=1), arr[:, j])
        return _checked(path, arr, None)
    raise ValueError(f"{path}: unsupported data file type {path.suffix!r} (use .npz, .npy or .csv)")


def _checked(path: Path, x: np.ndarray, y: np.ndarray | None) -> tuple[np.ndarray, np.ndarray | None]:
    """X as float32 and y as int64 after the checks of :func:`load_labelled` (errors name ``path``)."""
    if x.ndim != 2 or x.shape[0] < 1 or x.shape[1] < 1:
        raise ValueError(f"{path}: expected the data as a 2-D array (n_samples >= 1, n_features >= 1), got shape "
                         f"{x.shape}")
    with np.errstate(all="ignore"):
        x64 = x.astype(np.float64)
        bad = ~np.isfinite(x64).all(axis=1) | (np.abs(x64) > np.finfo(np.float32).max).any(axis=1)
    if bad.any():
        raise ValueError(f"{path}: {int(bad.sum())} of {len(x)} rows hold NaN, inf or values beyond float32's range")
    if y is None:
        return x.astype(np.float32), None
    y = np.asarray(y)
    if y.shape != (x.shape[0],):
        raise ValueError(f"{path}: y must hold one label per row of X ({x.shape[0]}), got shape {y.shape}")
    if y.dtype.kind not in "biuf" or not np.isin(y, (0, 1)).all():
        raise ValueError(f"{path}: the labels must be 0 (normal) or 1 (anomaly), got "
                         f"{sorted({str(v) for v in np.unique(y)})[:5]}")
    return x.astype(np.float32), y.astype(np.int64)


def _is_number(s: str) -> bool:
    try:
        float(s)
    except ValueError:
        return False
    return True


@dataclass(frozen=True)
class FeatureMaps:
    """features (N, C, H, W); masks (N, H', W') pixel masks (1 = defect) or None; labels (N,) or None."""

    features: np.ndarray
    masks: np.ndarray | None = None
    labels: np.ndarray | None = None

    def __post_init__(self) -> None:
        f = self.features
        if f.ndim != 4:
            raise ValueError(f"feature maps: expected (N, C, H, W), received shape {f.shape}")
        if self.masks is not None and (self.masks.ndim != 3 or self.masks.shape[0] != f.shape[0]):
            raise ValueError(f"masks: expected ({f.shape[0]}, H, W), received shape {self.masks.shape}")
        if self.labels is not None and self.labels.shape != (f.shape[0],):
            raise ValueError(f"labels: expected ({f.shape[0]},), received shape {self.labels.shape}")

    @property
    def image_labels(self) -> np.ndarray | None:
        """labels, or (mask has any defect pixel) when only masks are given."""
        if self.labels is not None:
            return self.labels
        if self.masks is not None:
            flat = np.asarray(self.masks).reshape(self.masks.shape[0], -1) > 0.5
            return np.asarray(flat.any(axis=1), dtype=np.int64)
        return None


def _np(v: Any) -> np.ndarray:
    return v.detach().cpu().numpy() if hasattr(v, "detach") else np.asarray(v)


def _masks(m: Any) -> np.ndarray | None:
    if m is None:
        return None
    a = _np(m).astype(np.float32)
    return a[:, 0] if a.ndim == 4 and a.shape[1] == 1 else a


def load_feature_maps(path: str | Path) -> FeatureMaps:
    """Load UniAD-style per-location feature maps (see the module docstring for the formats)."""
    path = check_file(path, "feature-map", allow_empty=True)
    if path.suffix == ".pt":
        obj = load_torch(path, "feature-map file")
        if isinstance(obj, dict):
            if "features" not in obj:
                raise ValueError(f"{path}: a dict needs 'features' (and optionally 'masks', 'labels'); has {list(obj)}")
            return FeatureMaps(_np(obj["features"]).astype(np.float32), _masks(obj.get("masks")),
                               _np(obj["labels"]).astype(np.int64) if obj.get("labels") is not None else None)
        return FeatureMaps(_np(obj).astype(np.float32))
    if path.suffix == ".npz":
        d = load_npz(path, "feature-map archive")
        if "features" not in d:
            raise ValueError(f"{path}: needs an array 'features'; has {list(d.keys())}")
        return FeatureMaps(d["features"].astype(np.float32), _masks(d["masks"]) if "masks" in d else None,
                           d["labels"].astype(np.int64) if "labels" in d else None)
    if path.suffix == ".npy":
        masks_p, labels_p = path.with_name(path.stem + "_masks.npy"), path.with_name(path.stem + "_labels.npy")
        return FeatureMaps(load_npy(path, "feature maps").astype(np.float32),
                           _masks(load_npy(masks_p, "masks")) if masks_p.is_file() else None,
                           load_npy(labels_p, "labels").astype(np.int64) if labels_p.is_file() else None)
    raise ValueError(f"{path}: unsupported feature-map file type {path.suffix!r} (use .pt, .npy or .npz)")


def breast_cancer(seed: int = 0) -> Split:
    """The built-in default: scikit-learn's breast-cancer set (569 x 30), benign = normal (y = 0),
    malignant = anomaly (y = 1), split with :func:`semi_supervised_split`. No download."""
    try:
        from sklearn.datasets import load_breast_cancer
    except ImportError as e:
        raise ImportError("the built-in breast-cancer data needs scikit-learn: pip install 'dxmi[anomaly]'") from e
    d = load_breast_cancer()
    return semi_supervised_split(d.data, 1 - d.target, seed, name="breast_cancer")


def ring_feature_maps(n: int, n_anomalous: int, generator: np.random.Generator, size: int = 6,
                      noise_channel: bool = False) -> FeatureMaps:
    """A synthetic (n, 3, size, size) feature-map set with known defects (the last ``n_anomalous`` maps).

    Every normal location has channels 0-1 on a ring of radius 2 (plus 0.1 noise) and channel 2
    constant 1 (or standard normal noise with ``noise_channel``: a nuisance channel that carries no
    signal). An anomalous map has a 2 x 2 patch whose channels 0-1 sit on a ring of radius 3.5.
    Masks are at twice the map resolution, so pixel scores need upsampling.
    """
    g = generator
    a = g.uniform(0, 2 * np.pi, (n, size, size))
    third = g.normal(size=(n, size, size)) if noise_channel else np.ones((n, size, size))
    feats = np.stack([2 * np.cos(a), 2 * np.sin(a), third], 1)
    feats[:, :2] += 0.1 * g.normal(size=(n, 2, size, size))
    masks = np.zeros((n, 2 * size, 2 * size), dtype=np.float32)
    for i in range(n - n_anomalous, n):
        r, c = g.integers(0, size - 1, 2)
        b = g.uniform(0, 2 * np.pi, (2, 2))
        feats[i, :2, r:r + 2, c:c + 2] = 3.5 * np.stack([np.cos(b), np.sin(b)]) + 0.1 * g.normal(size=(2, 2, 2))
        masks[i, 2 * r:2 * r + 4, 2 * c:2 * c + 4] = 1
    return FeatureMaps(features=feats.astype(np.float32), masks=masks)
