"""CPU-scale image metrics in the features of a small classifier trained on the same dataset.

FID needs Inception weights and 299x299 inputs; for 8x8 / 28x28 digits the project trains its own
small convolutional classifier (seeded, cached in the run folder) and measures

- the Frechet distance ||mu_r - mu_g||^2 + Tr(S_r + S_g - 2 (S_r S_g)^{1/2}) between Gaussian fits of
  the penultimate-layer features of real and generated images
  (:func:`dxmi.metrics.frechet_distance`), and
- improved precision / recall (k-NN manifolds, Kynkaanniemi et al. 2019;
  :func:`dxmi.metrics.precision_recall`) in the same features.

Every result carries its sample counts.
"""

from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from tqdm.auto import tqdm

from dxmi.metrics.frechet import frechet_distance
from dxmi.metrics.modes import precision_recall


class SmallClassifier(nn.Module):
    """conv(32) - conv(32) - pool - conv(64) - conv(64) - global pool - linear(feature_dim) - linear(K).

    :meth:`features` returns the ``feature_dim`` penultimate activations (after ReLU)."""

    def __init__(self, in_channels: int, num_classes: int, width: int = 32, feature_dim: int = 64):
        super().__init__()
        w = width
        self.body = nn.Sequential(
            nn.Conv2d(in_channels, w, 3, padding=1), nn.ReLU(), nn.Conv2d(w, w, 3, padding=1), nn.ReLU(),
            nn.AvgPool2d(2), nn.Conv2d(w, 2 * w, 3, padding=1), nn.ReLU(),
            nn.Conv2d(2 * w, 2 * w, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(2), nn.Flatten(),
            nn.Linear(8 * w, feature_dim), nn.ReLU())
        self.head = nn.Linear(feature_dim, num_classes)
        self.in_channels = in_channels

    def features(self, x: Tensor) -> Tensor:
        if x.ndim != 4 or x.shape[1] != self.in_channels:
            raise ValueError(f"SmallClassifier: expected (B, {self.in_channels}, H, W), received {tuple(x.shape)}")
        return self.body(x)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.features(x))


@dataclass(frozen=True)
class ClassifierFit:
    train_accuracy: float
    held_out_accuracy: float
    steps: int


def train_classifier(images: Tensor, labels: Tensor, steps: int = 1500, batch_size: int = 128, lr: float = 2e-3,
                     seed: int = 0, held_out: float = 0.15, noise: float = 0.05,
                     progress: bool = False) -> tuple[SmallClassifier, ClassifierFit]:
    """Train :class:`SmallClassifier` (Adam, cross-entropy, small Gaussian input noise and random
    1-pixel shifts as augmentation) on a seeded split; report train and held-out accuracy."""
    if images.ndim != 4 or labels.shape != (images.shape[0],):
        raise ValueError(f"train_classifier: expected images (N, C, H, W) and labels (N,), "
                         f"received {tuple(images.shape)} and {tuple(labels.shape)}")
    g = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    k = int(len(images) * held_out)
    perm = torch.randperm(len(images), generator=g)
    tr, te = perm[k:], perm[:k]
    net = SmallClassifier(images.shape[1], int(labels.max()) + 1)
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
    for _ in tqdm(range(steps), desc="classifier", disable=not progress, leave=False):
        idx = tr[torch.randint(0, len(tr), (batch_size,), generator=g)]
        x = images[idx]
        dx, dy = (int(v) for v in torch.randint(-1, 2, (2,), generator=g))
        x = torch.roll(x, shifts=(dx, dy), dims=(2, 3)) + noise * torch.randn(x.shape, generator=g)
        loss = F.cross_entropy(net(x), labels[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
    net.eval()
    with torch.no_grad():
        acc_tr = float((net(images[tr]).argmax(1) == labels[tr]).float().mean())
        acc_te = float((net(images[te]).argmax(1) == labels[te]).float().mean()) if k else float("nan")
    return net, ClassifierFit(acc_tr, acc_te, steps)


#: the entry of a classifier cache that holds its :class:`ClassifierFit` (train and held-out accuracy, steps)
FIT_KEY = "_fit"


def _read_cache(path: Path, in_channels: int, num_classes: int) -> tuple[SmallClassifier, ClassifierFit]:
    """The classifier cached at ``path``; a :class:`~dxmi.io.FileFormatError` naming the file when it is
    unreadable, not a classifier cache or of another classifier (channels, classes)."""
    from dxmi.io import FileFormatError, load_safetensors

    state = load_safetensors(path, "classifier cache")[0]
    if FIT_KEY not in state:
        raise FileFormatError(f"{path}: not a classifier cache (no {FIT_KEY!r})")
    meta = state.pop(FIT_KEY)
    net = SmallClassifier(in_channels, num_classes)
    try:
        net.load_state_dict(state)
        fit = ClassifierFit(float(meta[0]), float(meta[1]), int(meta[2]))
    except (RuntimeError, KeyError, IndexError, ValueError) as e:
        detail = next((ln.strip() for ln in str(e).splitlines()[1:] if ln.strip()), str(e).strip())
        raise FileFormatError(f"{path}: the classifier cache does not fit this dataset "
                              f"({in_channels} channels, {num_classes} classes): {detail[:200]}") from None
    net.eval()
    return net, fit


def load_or_train_classifier(path: str | Path, images: Tensor, labels: Tensor, seed: int = 0, steps: int = 1500,
                             progress: bool = False) -> tuple[SmallClassifier, ClassifierFit]:
    """The classifier cached at ``path`` (safetensors: the weights and a ``_fit`` entry) or, when absent,
    a freshly trained one, written there atomically (:func:`dxmi.io.atomic_write`: complete or absent,
    never half-written). The cache key is the file: delete it to retrain. A cache that does not load
    (unreadable, not a classifier cache, another dataset's) is retrained and rewritten, with a warning
    naming the file and the reason."""
    from safetensors.torch import save_file

    from dxmi.io import FileFormatError, atomic_write

    path = Path(path)
    num_classes = int(labels.max()) + 1
    if path.is_file():
        try:
            return _read_cache(path, images.shape[1], num_classes)
        except FileFormatError as e:
            warnings.warn(f"{e}; training the classifier again (the cache is rewritten)", stacklevel=2)
    net, fit = train_classifier(images, labels, steps=steps, seed=seed, progress=progress)
    state = {k: v.detach().cpu().contiguous() for k, v in net.state_dict().items()}
    state[FIT_KEY] = torch.tensor([fit.train_accuracy, fit.held_out_accuracy, float(fit.steps)], dtype=torch.float64)
    atomic_write(path, lambda tmp: save_file(state, tmp))
    return net, fit


@dataclass(frozen=True)
class ImageScores:
    """Scores of generated images against reference images (in classifier features)."""

    fd: float
    precision: float
    recall: float
    n_samples: int
    n_reference: int

    def as_dict(self) -> dict[str, float | int]:
        return asdict(self)


class ClassifierFeatureMetrics:
    """FD and precision/recall of generated images in a classifier's penultimate features.

    The reference features are computed once at construction."""

    def __init__(self, classifier: SmallClassifier, reference: Tensor, k: int = 5, batch_size: int = 1000):
        self.classifier = classifier.eval()
        self.k = k
        self.batch_size = batch_size
        self.image_shape = tuple(int(v) for v in reference.shape[1:])
        self.reference = self.features(reference)

    @torch.no_grad()
    def features(self, images: Tensor) -> Tensor:
        x = images.detach().float().cpu().clamp(-1, 1)
        return torch.cat([self.classifier.features(x[i:i + self.batch_size])
                          for i in range(0, len(x), self.batch_size)])

    @torch.no_grad()
    def label_accuracy(self, samples: Tensor, labels: Tensor) -> float:
        """The fraction of class-conditional samples that the classifier assigns to the class they
        were drawn for (labels (n,) long; 1 = every sample reads as its class)."""
        if labels.shape != (samples.shape[0],):
            raise ValueError(f"label_accuracy: expected labels ({samples.shape[0]},), received {tuple(labels.shape)}")
        x = samples.detach().float().cpu().clamp(-1, 1)
        pred = torch.cat([self.classifier(x[i:i + self.batch_size]).argmax(1)
                          for i in range(0, len(x), self.batch_size)])
        return float((pred == labels.cpu()).float().mean())

    def __call__(self, samples: Tensor) -> ImageScores:
        if tuple(samples.shape[1:]) != self.image_shape:
            raise ValueError(f"ClassifierFeatureMetrics: samples must have shape (n, {self.image_shape}), "
                             f"received {tuple(samples.shape)}")
        f = self.features(samples)
        pr = precision_recall(self.reference, f, k=self.k)
        return ImageScores(fd=frechet_distance(self.reference, f), precision=pr.precision, recall=pr.recall,
                           n_samples=len(f), n_reference=len(self.reference))
