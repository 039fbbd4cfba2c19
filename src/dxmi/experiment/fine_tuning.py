"""Phase 3, ``OUT/train/``: DxMI (or GCD) fine-tuning of the T-step sampler, with checkpoint selection
on validation draws, and loading the trained sampler."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from dxmi.algorithms import DxMI
from dxmi.algorithms.base import Algorithm
from dxmi.config import RunConfig
from dxmi.data.sources import (
    DATA_SCALE_FILE,
    balanced_labels,
    build_dataset,
    data_shape,
    data_source,
    is_image_dataset,
    save_data_scale,
)
from dxmi.experiment.build import build_algorithm
from dxmi.experiment.pretraining import load_pretrained
from dxmi.experiment.run_folder import check_device, check_resumable, for_this_rank, make_generator, save_config
from dxmi.experiment.scores import image_metrics, split_reference
from dxmi.experiment.warm_start import warmstart
from dxmi.policies import GaussianPolicy
from dxmi.training.checkpoint import load_checkpoint, restore_state
from dxmi.training.distributed import Distributed
from dxmi.training.loop import Trainer
from dxmi.training.precision import Precision
from dxmi.training.selection import BEST_NAME, BestCheckpoint


@dataclass(frozen=True)
class TrainResult:
    """``best_step`` / ``best_score``: the state kept by ``train.select`` (-1 / inf when it is off)."""

    algorithm: DxMI
    seconds: float
    best_step: int = -1
    best_score: float = math.inf


def train(cfg: RunConfig, resume: bool = True, max_steps_this_call: int | None = None,
          dist: Distributed | None = None) -> TrainResult:
    """DxMI (or GCD) fine-tuning of the T-step sampler from the pretrained model (resumable).

    Under torchrun each process trains on its share of ``train.algo.batch_size`` (which must
    divide by the number of processes) with DDP-synchronised gradients; rank 0 writes the run folder.
    """
    check_device(cfg.device)
    dist = dist or Distributed.from_env(cfg.device)
    out = Path(cfg.out)
    check_resumable(cfg, out, () if resume else ("warmstart", "train"))  # every rank: all stop together
    if dist.is_main:
        save_config(cfg, out)
    local = for_this_rank(cfg, dist)
    dataset = build_dataset(cfg)
    if dist.is_main and not (out / DATA_SCALE_FILE).is_file():
        save_data_scale(dataset, out)  # e.g. a diffusers base model: no pretraining wrote it
    model = load_pretrained(local, data_shape(dataset))
    if cfg.sampler.warmstart.steps > 0:
        model = warmstart(cfg, local, model, dataset, resume, dist)
    algo = build_algorithm(local, model, make_generator(local.device, dist.seed(cfg.seed + 2)))
    dist.wrap(algo)
    t0 = time.perf_counter()
    select = BestCheckpoint(out / "train" / "checkpoints", validation_score(local, dataset), dist.is_main)
    if not resume or cfg.train.select.every == 0:
        select.clear()  # a best state of an earlier run in this folder is not this run's
    if cfg.train.select.every > 0 and not select.exists():
        select(0, algo)  # the start competes too: training that only degrades it keeps it
    fit = Trainer(algo, data_source(dataset, algo.policy.num_classes), cfg.train.algo.batch_size,
                  cfg.train.iterations, out / "train",
                  seed=cfg.seed + 3, device=local.device, log_every=cfg.log_every, ckpt_every=cfg.ckpt_every,
                  progress=cfg.progress, tensorboard=cfg.tensorboard,
                  desc=f"{cfg.train.update} T={cfg.sampler.num_steps}",
                  callback=select if cfg.train.select.every > 0 else None, callback_every=cfg.train.select.every,
                  max_steps_this_call=max_steps_this_call, distributed=dist,
                  precision=Precision(cfg.precision, dist.device.type)).fit(resume=resume)
    if fit.steps == cfg.train.iterations and select.exists():
        select.restore(algo, local.device)
    return TrainResult(algorithm=algo, seconds=time.perf_counter() - t0, best_step=select.best_step,
                       best_score=select.best)


#: seed offsets (added to ``cfg.seed``) of validation draws: the samples and the 2D reference that
#: choices (checkpoint, spacing, settings) are made on. Reported figures use other seeds.
VALIDATION_SAMPLE_SEED = 50_000
VALIDATION_DATA_SEED = 40_000


def validation_score(cfg: RunConfig, dataset: Any) -> Callable[[Algorithm], float]:
    """The proxy of :class:`~dxmi.training.BestCheckpoint` (lower is better): ``train.select.n_samples``
    from the algorithm's sampling policy (the validation sampling seed, every class equally often)
    against the validation reference: for images the FD in the run's classifier features to the
    validation half of :func:`split_reference`, in 2D the sliced Wasserstein distance to a draw of
    the data with the validation data seed. Built lazily: nothing is computed before the first call."""
    from dxmi.metrics import sliced_wasserstein

    n = cfg.train.select.n_samples
    scorer: list[Callable[[Tensor], float]] = []

    def metric() -> Callable[[Tensor], float]:
        if not scorer:
            if is_image_dataset(dataset):
                val, _ = split_reference(len(dataset.images))
                m = image_metrics(cfg, dataset, reference=dataset.images[val])
                scorer.append(lambda x: float(m(x).fd))
            else:
                ref = dataset.sample(n, torch.Generator().manual_seed(VALIDATION_DATA_SEED + cfg.seed))
                scorer.append(lambda x: float(sliced_wasserstein(
                    x.detach().cpu().float(), ref, generator=torch.Generator().manual_seed(cfg.seed))))
        return scorer[0]

    def score(algorithm: Algorithm) -> float:
        policy: GaussianPolicy = algorithm.sampling_policy  # type: ignore[attr-defined]
        gen = make_generator(cfg.device, VALIDATION_SAMPLE_SEED + cfg.seed)
        with torch.no_grad():
            x = policy.sample(n, gen, balanced_labels(n, policy.num_classes, cfg.device))
        return metric()(x)

    return score


def load_trained(cfg: RunConfig, dataset: Any = None) -> DxMI:
    dataset = build_dataset(cfg) if dataset is None else dataset
    model = load_pretrained(cfg, data_shape(dataset))
    algo = build_algorithm(cfg, model, make_generator(cfg.device, cfg.seed + 2))
    folder = Path(cfg.out) / "train" / "checkpoints"
    path = folder / BEST_NAME if (folder / BEST_NAME).is_file() else folder / "last.safetensors"
    if not path.is_file():
        raise FileNotFoundError(f"no trained sampler at {path}; run `dxmi train` with the same --out first")
    restore_state(algo, load_checkpoint(path, cfg.device).get("algorithm"), path, "trained sampler")
    algo.train(False)
    return algo
