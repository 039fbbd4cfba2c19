"""How samples are scored: against held-out 2D data, in a classifier's features for images, and the
fixed validation / test halving of a reference set."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from dxmi.config import RunConfig
from dxmi.data.images import ImageDataset


def evaluate_samples(samples: Tensor, reference: Tensor, dataset: Any, seed: int = 0,
                     ot_samples: int = 500) -> dict[str, float]:
    """Sample-quality metrics against held-out data (and exact-density ones for 8gaussians).

    SW and precision/recall use all samples; MMD and energy distance the first 2000; Sinkhorn
    (reg 0.05) and exact EMD the first ``ot_samples`` (0 skips them)."""
    from dxmi import metrics as M

    x, y = samples.detach().cpu().float(), reference.detach().cpu().float()
    n_mmd = min(len(x), len(y), 2000)  # MMD and OT are quadratic or worse: subsample
    out: dict[str, float] = {
        "sw": M.sliced_wasserstein(x, y, generator=torch.Generator().manual_seed(seed)),
        "mmd": M.mmd(x[:n_mmd], y[:n_mmd]),
        "energy_distance": M.energy_distance(x[:n_mmd], y[:n_mmd]),
    }
    if ot_samples > 0:
        try:
            n = min(len(x), len(y), ot_samples)
            try:  # the fast plain iterations; a failed solve (underflow) is NaN, never a silent 0
                out["sinkhorn"] = M.sinkhorn(x[:n], y[:n], reg=0.05, log_domain=False)
            except FloatingPointError:
                out["sinkhorn"] = math.nan
            out["emd"] = M.emd(x[:n], y[:n])
        except ImportError:
            pass
    pr = M.precision_recall(y[:5000], x[:5000])
    out["precision"], out["recall"] = pr.precision, pr.recall
    if hasattr(dataset, "centers"):
        ms = M.mode_statistics(x, dataset.centers, dataset.std)
        out["modes_covered"] = float(ms.coverage)
        out["in_mode_fraction"] = ms.in_mode_fraction
        out["effective_modes"] = ms.effective_modes
        out["within_mode_std"] = ms.within_mode_std
    return out


def image_metrics(cfg: RunConfig, dataset: ImageDataset, progress: bool = False,
                  reference: Tensor | None = None) -> Any:
    """FD / precision / recall in the features of the run's classifier (trained on the dataset,
    seeded, cached at OUT/classifier.safetensors); the reference is the whole dataset, or the
    images ``reference`` (e.g. a validation or test part of it)."""
    from dxmi.metrics.classifier import ClassifierFeatureMetrics, load_or_train_classifier

    labels = dataset.require_labels("FD / precision / recall in classifier features "
                                    "(`dxmi fid` scores unlabelled images)")
    clf, _ = load_or_train_classifier(Path(cfg.out) / "classifier.safetensors", dataset.images, labels,
                                      seed=cfg.seed, steps=cfg.eval.classifier_steps, progress=progress)
    return ClassifierFeatureMetrics(clf, dataset.images if reference is None else reference)


def split_reference(n: int, seed: int = 0) -> tuple[Tensor, Tensor]:
    """(validation, test) indices of a fixed random halving of n reference items: settings are chosen
    against the first part, figures are reported against the second."""
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    return perm[: n // 2], perm[n // 2:]
