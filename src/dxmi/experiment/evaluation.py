"""The evaluation job: a sampler's samples scored and written to ``OUT/eval_<stem>.json`` and
``OUT/samples_<stem>.npy``."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import torch

from dxmi.config import RunConfig
from dxmi.data.sources import build_dataset, is_image_dataset, to_data_units
from dxmi.experiment.fine_tuning import load_trained
from dxmi.experiment.sampling import draw_model_units
from dxmi.experiment.scores import evaluate_samples, image_metrics
from dxmi.training.checkpoint import write_text_atomic


def eval_name(which: str, steps: int | None = None, spacing: str | None = None) -> str:
    """The stem of a sampler's evaluation files: ``eval_<stem>.json``, ``samples_<stem>.npy``."""
    return "_".join([which, *([str(steps)] if steps else []), *([spacing] if spacing else [])])


def evaluate(cfg: RunConfig, which: str = "dxmi", steps: int | None = None,
             spacing: str | None = None) -> dict[str, float]:
    from dxmi import metrics as M

    dataset = build_dataset(cfg)
    n = cfg.eval.n_samples
    t0 = time.perf_counter()
    # point clouds: scored in the model's standardised units (scores compare across data scales and
    # the Sinkhorn regularisation means the same for every file); samples_*.npy are in data units
    samples, labels = draw_model_units(cfg, dataset, which, n, cfg.seed + 100, steps, None, spacing)
    seconds = time.perf_counter() - t0
    out = Path(cfg.out)
    stem = eval_name(which, steps if which not in ("dxmi", "base", "ddpm") else None, spacing)
    if is_image_dataset(dataset):
        metric = image_metrics(cfg, dataset)
        scores = metric(samples)
        result = {k: float(v) for k, v in scores.as_dict().items()}
        if labels is not None:  # class-conditional: how often the classifier reads the requested class
            result["label_accuracy"] = metric.label_accuracy(samples, labels)
        result["sampling_seconds"] = seconds
        write_text_atomic(out / f"eval_{stem}.json", json.dumps(result, indent=2))
        np.save(out / f"samples_{stem}.npy", samples.detach().cpu().numpy())
        return result
    reference = dataset.sample(n, torch.Generator().manual_seed(cfg.seed + 200))
    result = evaluate_samples(samples, reference, dataset, seed=cfg.seed)
    result["sampling_seconds"] = seconds
    result["n_samples"] = float(n)
    if which == "dxmi" and hasattr(dataset, "log_prob"):
        algo = load_trained(cfg, dataset)
        with torch.no_grad():
            de = M.density_error(lambda z: algo.energy(z.to(cfg.device)).cpu(), dataset.log_prob,
                                 resolution=cfg.eval.grid_resolution)
        result["density_tv"], result["density_kl"] = de.tv, de.kl
    write_text_atomic(out / f"eval_{stem}.json", json.dumps(result, indent=2))
    np.save(out / f"samples_{stem}.npy", to_data_units(dataset, samples.detach().cpu()).numpy())
    return result
