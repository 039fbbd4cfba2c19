"""Phase 1, ``OUT/pretrain/``: the base diffusion model trained on the data, and loading it."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from dxmi.algorithms import DDPMTraining
from dxmi.config import ConfigError, RunConfig
from dxmi.data.sources import build_dataset, clear_data_scale, data_shape, data_source, save_data_scale
from dxmi.experiment.build import build_base_model
from dxmi.experiment.run_folder import check_device, check_resumable, make_generator, save_config
from dxmi.nets.conditioning import num_classes
from dxmi.training.checkpoint import checkpoint_step, load_checkpoint, restore_state
from dxmi.training.distributed import Distributed
from dxmi.training.loop import Trainer
from dxmi.training.precision import Precision


@dataclass(frozen=True)
class PretrainResult:
    model: Any  # EpsilonModel or EDMDenoiser
    seconds: float


def pretrain(cfg: RunConfig, resume: bool = True, dist: Distributed | None = None) -> PretrainResult:
    """Train the 1000-step DDPM on the data (resumable; under torchrun: data-parallel)."""
    check_device(cfg.device)
    dist = dist or Distributed.from_env(cfg.device)
    device = str(dist.device)
    out = Path(cfg.out)
    check_resumable(cfg, out, () if resume else ("pretrain",))  # every rank: all stop together
    if dist.is_main:
        save_config(cfg, out)
        if not resume or not (out / "pretrain" / "checkpoints" / "last.safetensors").is_file():
            clear_data_scale(out)  # a fresh pretraining standardises point clouds anew
    dist.barrier()
    dataset = build_dataset(cfg)
    if dist.is_main:
        save_data_scale(dataset, out)
    torch.manual_seed(cfg.seed)  # network initialisation is part of the seeded run
    model = build_base_model(cfg, data_shape(dataset)).to(device)
    classes = num_classes(model)
    algo = DDPMTraining(model, lr=cfg.pretrain.lr, generator=make_generator(device, dist.seed(cfg.seed + 1)),
                        lr_decay_steps=cfg.pretrain.steps, ema=cfg.pretrain.ema,
                        label_dropout=cfg.pretrain.label_dropout if classes else 0.0)
    dist.wrap(algo)
    t0 = time.perf_counter()
    Trainer(algo, data_source(dataset, classes), cfg.pretrain.batch_size, cfg.pretrain.steps, out / "pretrain",
            seed=cfg.seed, device=device, log_every=cfg.log_every, ckpt_every=cfg.ckpt_every,
            progress=cfg.progress, tensorboard=cfg.tensorboard, desc="pretrain DDPM", distributed=dist,
            precision=Precision(cfg.precision, dist.device.type)).fit(resume=resume)
    return PretrainResult(model=algo.ema_model or model, seconds=time.perf_counter() - t0)  # type: ignore[arg-type]


def load_pretrained(cfg: RunConfig, shape: tuple[int, ...] | int) -> Any:
    """The pretrained base model of the run (its EMA weights when pretrain.ema > 0), or the local
    diffusers model named by ``pretrain.diffusers_path``."""
    shape = (shape,) if isinstance(shape, int) else tuple(shape)
    if cfg.pretrain.diffusers_path:
        from dxmi.diffusion.diffusers import load_diffusers_eps_model

        eps_model = load_diffusers_eps_model(cfg.pretrain.diffusers_path, device=cfg.device)
        if eps_model.sample_shape != shape:
            raise ConfigError(f"pretrain.diffusers_path: the UNet makes samples {eps_model.sample_shape}, "
                              f"the data are {shape}")
        return eps_model
    path = Path(cfg.out) / "pretrain" / "checkpoints" / "last.safetensors"
    if not path.is_file():
        raise FileNotFoundError(f"no pretrained model at {path}; run `dxmi pretrain` with the same --out first "
                                "(or set pretrain.diffusers_path)")
    step = pretrain_step(cfg)
    if step is not None and step < cfg.pretrain.steps:
        raise ConfigError(f"the pretraining in {path.parent.parent} stopped at step {step} of {cfg.pretrain.steps}: "
                          f"finish it with `dxmi pretrain` (or `dxmi train`) and the same --out")
    model = build_base_model(cfg, shape)
    state = load_checkpoint(path)
    modules = state.get("algorithm", {}).get("modules", {}) if isinstance(state.get("algorithm"), dict) else {}
    restore_state(model, modules.get("model_ema", modules.get("model")), path, "pretrained model")
    return model.to(cfg.device)


def pretrain_step(cfg: RunConfig) -> int | None:
    """The step the run's pretraining checkpoint was written at (None: no checkpoint, or one
    without a step)."""
    path = Path(cfg.out) / "pretrain" / "checkpoints" / "last.safetensors"
    return checkpoint_step(path) if path.is_file() else None


def pretrain_finished(cfg: RunConfig) -> bool:
    """Whether the base model is ready: a local diffusers model, or a pretraining checkpoint at
    ``pretrain.steps`` (one from an interrupted pretraining is not: it is resumed)."""
    if cfg.pretrain.diffusers_path:
        return True
    path = Path(cfg.out) / "pretrain" / "checkpoints" / "last.safetensors"
    if not path.is_file():
        return False
    step = pretrain_step(cfg)
    return step is None or step >= cfg.pretrain.steps
