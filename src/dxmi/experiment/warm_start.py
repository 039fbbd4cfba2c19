"""Phase 2, ``OUT/warmstart/`` (optional): the T-step policy distilled from a training-free solver."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import torch

from dxmi.algorithms import SolverDistillation
from dxmi.config import ConfigError, RunConfig
from dxmi.data.sources import data_source
from dxmi.diffusion import EpsilonModel
from dxmi.experiment.build import build_policy
from dxmi.experiment.run_folder import make_generator
from dxmi.policies import GaussianPolicy
from dxmi.training.checkpoint import load_checkpoint, restore_state
from dxmi.training.distributed import Distributed
from dxmi.training.loop import Trainer
from dxmi.training.precision import Precision


def warmstart(cfg: RunConfig, local: RunConfig, model: Any, dataset: Any, resume: bool,
              dist: Distributed) -> EpsilonModel:
    """Phase ``OUT/warmstart/`` (resumable): :class:`SolverDistillation` of the T-step policy on the
    solver's path; returns a copy of the base model whose network is the distilled one, from which
    the DxMI policy (and its EMA copy) are then built."""
    w = cfg.sampler.warmstart
    if not isinstance(model, EpsilonModel):
        raise ConfigError("sampler.warmstart is for DDPM base models (a diffusers solver drives an epsilon model)")
    if "/" not in cfg.sampler.subsequence:
        raise ConfigError(f"sampler.warmstart needs sampler.subsequence=<solver>/<spacing> (e.g. unipc/leading), "
                          f"got {cfg.sampler.subsequence!r}")
    solver, spacing = cfg.sampler.subsequence.split("/", 1)
    torch.manual_seed(cfg.seed + 5)
    policy = build_policy(local, model).to(local.device)
    try:
        algo = SolverDistillation(policy, model, solver, spacing,  # type: ignore[arg-type]
                                  batch_size=dist.local_batch_size(w.batch_size), lr=w.lr,
                                  generator=make_generator(local.device, dist.seed(cfg.seed + 6)),
                                  on_policy=w.on_policy)
    except ValueError as e:
        raise ConfigError(f"sampler.warmstart: {e}") from None
    dist.wrap(algo)
    Trainer(algo, data_source(dataset, policy.num_classes), w.batch_size, w.steps, Path(cfg.out) / "warmstart",
            seed=cfg.seed + 4, device=local.device, log_every=cfg.log_every, ckpt_every=cfg.ckpt_every,
            progress=cfg.progress, tensorboard=False, desc=f"warm start from {solver}", distributed=dist,
            precision=Precision(cfg.precision, dist.device.type)).fit(resume=resume)
    warm = copy.deepcopy(model)
    warm.eps_net.load_state_dict(policy.eps_net.state_dict())  # type: ignore[union-attr]
    return warm


def load_warmstarted(cfg: RunConfig, model: Any) -> GaussianPolicy:
    """The T-step policy as the warm start left it (before DxMI), from ``OUT/warmstart/``."""
    path = Path(cfg.out) / "warmstart" / "checkpoints" / "last.safetensors"
    if not path.is_file():
        raise FileNotFoundError(f"no warm-started policy at {path}; set sampler.warmstart.steps > 0 and train")
    policy = build_policy(cfg, model)
    modules = load_checkpoint(path, cfg.device).get("algorithm", {}).get("modules", {})
    restore_state(policy, modules.get("policy"), path, "warm-started policy")
    return policy.to(cfg.device).eval()
