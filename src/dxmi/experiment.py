"""Assembling parts from a :class:`RunConfig`, and the four jobs: pretrain, train, sample, evaluate.

The CLI and the benchmarks call these; they hold no algorithmic logic of their own.

Run folder::

    OUT/config.yaml                 the resolved configuration (a resumed phase keeps its settings:
                                    see check_resumable)
    OUT/data_scale.json             point clouds: the standardisation the models work in
    OUT/pretrain/                   base DDPM: checkpoints/last.safetensors, metrics.csv
    OUT/train/                      DxMI/GCD: checkpoints/last.safetensors (+ best.safetensors with
                                    train.select), metrics.csv, tensorboard/
    OUT/samples.npy, OUT/eval.json  written by sample / evaluate
    OUT/plots/*.png
"""

from __future__ import annotations

import copy
import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from dxmi.algorithms import SAMPLER_UPDATES, DDPMTraining, DxMI, SolverDistillation
from dxmi.algorithms.base import Algorithm
from dxmi.config import ConfigError, NetConfig, RunConfig, load_config, to_dict
from dxmi.data.images import ImageDataset
from dxmi.data.sources import (  # noqa: F401 - re-exported: the jobs' data helpers live with the data
    DATA_SCALE_FILE,
    DATASETS,
    balanced_labels,
    build_dataset,
    clear_data_scale,
    data_dim,
    data_shape,
    data_source,
    is_image_dataset,
    save_data_scale,
    to_data_units,
)
from dxmi.diffusion import EpsilonModel
from dxmi.diffusion.edm import EDMDenoiser
from dxmi.diffusion.solvers import SOLVERS
from dxmi.energies import Energy, MLPEnergy
from dxmi.energies.conv import ConvEnergy, TimeConvNet
from dxmi.io import FileFormatError, settings_yaml
from dxmi.nets import FourierFeatures, TimeMLP
from dxmi.nets.conditioning import num_classes
from dxmi.nets.unet import UNet
from dxmi.policies import DDPMSubsequencePolicy, GaussianPolicy, ValueGuidedPolicy
from dxmi.policies.edm import EDMPolicy
from dxmi.schedules import LinearBetaSchedule
from dxmi.schedules.karras import KarrasSchedule
from dxmi.settings import changed_settings
from dxmi.training.checkpoint import checkpoint_step, load_checkpoint, restore_state, write_text_atomic
from dxmi.training.devices import resolve_device
from dxmi.training.distributed import Distributed
from dxmi.training.loop import Trainer
from dxmi.training.precision import Precision
from dxmi.training.selection import BEST_NAME, BestCheckpoint
from dxmi.values import SharedEnergyValue, TimeDependentValue, ValueFunction


# -- networks and parts (registries keyed by the config's ``kind``) --------------------------------
def _time_mlp(n: NetConfig, shape: tuple[int, ...], out_dim: int) -> nn.Module:
    if len(shape) != 1:
        raise ConfigError(f"net.kind=mlp needs vector data, got sample shape {shape}; use kind=unet for images")
    return TimeMLP(shape[0], out_dim, hidden=n.hidden, depth=n.depth, time_dim=n.time_dim, activation=n.activation)


def _unet(n: NetConfig, shape: tuple[int, ...], out_dim: int, time_scale: float = 1.0) -> nn.Module:
    if len(shape) != 3 or shape[1] != shape[2]:
        raise ConfigError(f"net.kind=unet needs square images (C, H, H), got sample shape {shape}")
    return UNet(shape[0], channels=n.channels, channel_mult=n.channel_mult, num_res_blocks=n.num_res_blocks,
                attention_resolutions=n.attention_resolutions, image_size=shape[1], dropout=n.dropout,
                num_classes=n.num_classes, groups=n.groups, time_scale=time_scale)


# kind -> builder(net config, sample shape, time scale) of an epsilon / denoiser network
EPS_NETS: dict[str, Callable[[NetConfig, tuple[int, ...], float], nn.Module]] = {
    "mlp": lambda n, shape, ts: _time_mlp(n, shape, shape[0]),
    "unet": lambda n, shape, ts: _unet(n, shape, shape[0], ts),
}


def _mlp_energy(n: NetConfig, shape: tuple[int, ...]) -> Energy:
    if len(shape) != 1:
        raise ConfigError(f"energy_net.kind=mlp needs vector data, got sample shape {shape}; use kind=conv")
    if n.num_classes:
        raise ConfigError("sampler.energy_net.kind=mlp is unconditional: set sampler.energy_net.num_classes=0 "
                          "(class-conditional energies: kind=conv)")
    return MLPEnergy(shape[0], hidden=n.hidden, depth=n.depth, activation=n.activation,
                     fourier_features=n.fourier_features, fourier_scale=n.fourier_scale)


def _conv_energy(n: NetConfig, shape: tuple[int, ...]) -> Energy:
    if len(shape) != 3:
        raise ConfigError(f"energy_net.kind=conv needs images (C, H, W), got sample shape {shape}")
    return ConvEnergy(shape, channels=n.channels, channel_mult=n.channel_mult, blocks=n.num_res_blocks,
                      activation=n.activation, init_scale=n.energy_scale, num_classes=n.num_classes)


ENERGIES: dict[str, Callable[[NetConfig, tuple[int, ...]], Energy]] = {"mlp": _mlp_energy, "conv": _conv_energy}


def _lookup(registry: dict[str, Any], kind: str, key: str) -> Any:
    if kind not in registry:
        raise ConfigError(f"{key} must be one of {sorted(registry)}, got {kind!r}")
    return registry[kind]


def _ddpm_model(cfg: RunConfig, shape: tuple[int, ...]) -> nn.Module:
    p = cfg.pretrain
    net = _lookup(EPS_NETS, p.net.kind, "pretrain.net.kind")(p.net, shape, 1.0)
    sched = LinearBetaSchedule(p.num_diffusion_steps, p.beta_start, p.beta_end)
    return EpsilonModel(net, sched, shape)


def _edm_model(cfg: RunConfig, shape: tuple[int, ...]) -> nn.Module:
    p = cfg.pretrain
    # c_noise = noise_scale * log(sigma) spans about [-1.5, 1.1] for noise_scale 0.25: spread the embedding
    net = _lookup(EPS_NETS, p.net.kind, "pretrain.net.kind")(p.net, shape, 250.0 / max(p.noise_scale, 1e-12))
    return EDMDenoiser(net, shape, noise_scale=p.noise_scale)


BASE_MODELS: dict[str, Callable[[RunConfig, tuple[int, ...]], nn.Module]] = {"ddpm": _ddpm_model, "edm": _edm_model}


def build_base_model(cfg: RunConfig, shape: tuple[int, ...]) -> nn.Module:
    """The base diffusion model (``pretrain.model``): EpsilonModel (ddpm) or EDMDenoiser (edm)."""
    return _lookup(BASE_MODELS, cfg.pretrain.model, "pretrain.model")(cfg, shape)  # type: ignore[no-any-return]


def build_eps_model(cfg: RunConfig, dim: int) -> EpsilonModel:
    """The DDPM base model for vector data of dimension ``dim`` (kept for callers of the 2D API)."""
    return _ddpm_model(cfg, (dim,))  # type: ignore[return-value]


def build_policy(cfg: RunConfig, model: nn.Module) -> GaussianPolicy:
    """The T-step policy from a base model (a deep copy of its network is fine-tuned)."""
    s = cfg.sampler
    if isinstance(model, EDMDenoiser):
        sched = (KarrasSchedule.build(s.num_steps, rho=s.rho, stochastic_last=s.stochastic_last) if s.rho > 0
                 else KarrasSchedule.release(s.num_steps))
        # requires_grad_: the base model may be a frozen EMA copy; its fine-tuned copy trains
        return EDMPolicy(copy.deepcopy(model).requires_grad_(True), sched, fix_last=s.fix_last,
                         last_sigma=s.last_sigma)
    if not isinstance(model, EpsilonModel):
        raise ConfigError(f"no T-step policy for a base model of type {type(model).__name__}")
    try:
        return DDPMSubsequencePolicy.from_model(model, s.num_steps, s.subsequence, last_sigma=s.last_sigma,
                                                fix_last=s.fix_last, ddim_eta=s.ddim_eta)
    except ValueError as e:
        raise ConfigError(f"sampler: {e}") from None


def build_energy(cfg: RunConfig, shape: tuple[int, ...] | int) -> Energy:
    n = cfg.sampler.energy_net
    shape = (shape,) if isinstance(shape, int) else tuple(shape)
    return _lookup(ENERGIES, n.kind, "sampler.energy_net.kind")(n, shape)  # type: ignore[no-any-return]


def build_value(cfg: RunConfig, shape: tuple[int, ...] | int, energy: Energy) -> ValueFunction:
    s = cfg.sampler
    shape = (shape,) if isinstance(shape, int) else tuple(shape)
    if s.value == "time_dependent":
        n = s.value_net
        if len(shape) == 3:  # images: the conv encoder with a step embedding
            net: nn.Module = TimeConvNet(shape, channels=n.channels, channel_mult=n.channel_mult,
                                         blocks=n.num_res_blocks, activation=n.activation, time_dim=n.time_dim,
                                         init_scale=n.energy_scale)
        else:
            feats = FourierFeatures(shape[0], n.fourier_features, n.fourier_scale, seed=cfg.seed + 11) \
                if n.fourier_features > 0 else None
            net = TimeMLP(shape[0], 1, hidden=n.hidden, depth=n.depth, time_dim=n.time_dim,
                          activation=n.activation, features=feats)
        return TimeDependentValue(net, shape, s.num_steps)
    if s.value == "shared":
        return SharedEnergyValue(energy, s.num_steps)
    raise ConfigError(f"sampler.value must be 'time_dependent' or 'shared', got {s.value!r}")


def build_algorithm(cfg: RunConfig, model: nn.Module, generator: torch.Generator) -> DxMI:
    if cfg.train.update not in SAMPLER_UPDATES:
        raise ConfigError(f"train.update must be one of {sorted(SAMPLER_UPDATES)}, got {cfg.train.update!r}")
    shape = tuple(model.sample_shape)  # type: ignore[arg-type]
    torch.manual_seed(cfg.seed + 7)  # network initialisation is part of the seeded run
    policy = build_policy(cfg, model)
    energy = build_energy(cfg, shape)
    value = build_value(cfg, shape, energy)
    device = torch.device(cfg.device)
    for m in (policy, energy, value):
        m.to(device)
    return SAMPLER_UPDATES[cfg.train.update](policy, value, energy, cfg.train.algo, generator=generator)


def make_generator(device: str, seed: int) -> torch.Generator:
    return torch.Generator(device=torch.device(device)).manual_seed(seed)


def check_device(device: str) -> None:
    try:
        resolve_device(device)
    except ValueError as e:
        raise ConfigError(str(e)) from None


#: the phases of a run folder, in order; each keeps OUT/<phase>/checkpoints/last.safetensors
PHASES = ("pretrain", "warmstart", "train")
#: the settings the pretraining depends on (the later phases depend on every setting)
PRETRAIN_SETTINGS = ("seed", "data", "pretrain")
#: settings that may differ when a run folder is resumed: where and how it runs, what it shows and
#: logs, how it is evaluated; ``train.iterations`` may grow (train longer)
RESUME_FREE_SETTINGS = ("out", "device", "precision", "progress", "tensorboard", "log_every", "ckpt_every", "eval")


def check_resumable(cfg: RunConfig, out: Path, restart: tuple[str, ...] = ()) -> None:
    """Refuse (one-line :class:`ConfigError` naming the keys) settings that differ from those of
    ``OUT/config.yaml`` and matter to a phase whose checkpoint would be resumed or built on: the
    pretraining's (seed, data.*, pretrain.*) while OUT/pretrain holds a checkpoint, every setting
    while OUT/warmstart or OUT/train does, except :data:`RESUME_FREE_SETTINGS` (and
    ``train.iterations`` growing). ``restart``: the phases this call starts over (--no-resume)."""
    path = out / "config.yaml"
    held = [ph for ph in PHASES if ph not in restart and (out / ph / "checkpoints" / "last.safetensors").is_file()]
    if not held or not path.is_file():
        return
    try:
        old = to_dict(load_config(str(path)))
    except ConfigError as e:
        raise ConfigError(f"{path}: the run folder's settings do not load ({e}); use a new --out") from None
    except FileFormatError as e:
        raise ConfigError(f"{e}; use a new --out") from None
    scope = None if held != ["pretrain"] else PRETRAIN_SETTINGS
    diff = changed_settings(old, to_dict(cfg), RESUME_FREE_SETTINGS, ("train.iterations",), scope)
    if diff:
        phases = ", ".join(f"{out / ph}" for ph in held)
        raise ConfigError(
            f"{out} was trained with other settings: {'; '.join(diff)}. {phases} would resume with them: rerun "
            f"with the run's settings ({path}), start that phase over with --no-resume (`dxmi train`: the "
            f"fine-tuning; `dxmi pretrain`: the pretraining, while no later phase exists), or use a new --out. Free "
            f"to change on resume: {', '.join(RESUME_FREE_SETTINGS[1:])}.*; train.iterations may grow")


def save_config(cfg: RunConfig, out: Path) -> None:
    """Write ``OUT/config.yaml`` (the jobs call :func:`check_resumable` first: a refused change
    leaves the folder untouched)."""
    out.mkdir(parents=True, exist_ok=True)
    write_text_atomic(out / "config.yaml", settings_yaml(to_dict(cfg)))


def for_this_rank(cfg: RunConfig, dist: Distributed) -> RunConfig:
    """The config one process of a distributed run uses: its own device and its share of the
    trajectory batch (the data batch is split by the Trainer)."""
    local = copy.deepcopy(cfg)
    local.device = str(dist.device)
    local.train.algo.batch_size = dist.local_batch_size(cfg.train.algo.batch_size)
    return local


# -- jobs --------------------------------------------------------------------------------------------
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
            x = policy.sample(n, gen, _sampling_labels(n, policy.num_classes, None, cfg.device))
        return metric()(x)

    return score


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


#: training-free few-step solvers from diffusers (:mod:`dxmi.diffusion.solvers`), for DDPM base models
SOLVER_SAMPLERS = tuple(s for s in SOLVERS if s != "ddim")  # ddim has its own row: the evenly spaced default
SAMPLERS = ("dxmi", "base", "ddpm", "ddim", *SOLVER_SAMPLERS)


def _sampling_labels(n: int, classes: int, label: int | None, device: str) -> Tensor | None:
    """Class ``label`` for all n samples, or every class equally often; None for an unconditional model."""
    if label is None:
        return balanced_labels(n, classes, device)
    if classes == 0:
        raise ConfigError(f"label {label} given, but the model is unconditional")
    if not 0 <= label < classes:
        raise ConfigError(f"label {label} for a model with {classes} classes")
    return torch.full((n,), label, device=device)


def draw_samples(cfg: RunConfig, which: str, n: int, seed: int, steps: int | None = None,
                 label: int | None = None, spacing: str | None = None, data_units: bool = True) -> Tensor:
    """Samples from the trained sampler (``dxmi``), the untrained T-step policy (``base``), the
    full ancestral DDPM (``ddpm``), DDIM with ``steps`` steps (``ddim``; evenly spaced from N - 1 to 0,
    or diffusers' DDIM on ``spacing``) or a diffusers solver (``dpmsolver++``, ``dpmsolver++3m``,
    ``unipc``; ``steps`` network evaluations on ``spacing``, default ``leading``). A class-conditional
    model draws every class equally often (labels 0, 1, ..., K-1, 0, ...), or class ``label`` only.
    Point clouds are modelled standardised: the samples are in the data file's units, or in the
    model's (standardised) units with ``data_units=False``."""
    return draw_labelled_samples(cfg, which, n, seed, steps, label, spacing, data_units)[0]


def draw_labelled_samples(cfg: RunConfig, which: str, n: int, seed: int, steps: int | None = None,
                          label: int | None = None, spacing: str | None = None,
                          data_units: bool = True) -> tuple[Tensor, Tensor | None]:
    """:func:`draw_samples` and the labels the samples were drawn with (None when unconditional)."""
    dataset = build_dataset(cfg)
    x, y = _draw_model_units(cfg, dataset, which, n, seed, steps, label, spacing)
    return (to_data_units(dataset, x) if data_units else x), y


def _draw_model_units(cfg: RunConfig, dataset: Any, which: str, n: int, seed: int, steps: int | None,
                      label: int | None, spacing: str | None) -> tuple[Tensor, Tensor | None]:
    if which not in SAMPLERS:
        raise ConfigError(f"sampler must be one of {SAMPLERS}, got {which!r}")
    if spacing is not None and which not in ("ddim", *SOLVER_SAMPLERS):
        raise ConfigError(f"--spacing applies to ddim and the solvers {SOLVER_SAMPLERS}, not to {which!r}")
    gen = make_generator(cfg.device, seed)
    if which == "dxmi":
        algo = load_trained(cfg, dataset)
        y = _sampling_labels(n, algo.policy.num_classes, label, cfg.device)
        if cfg.eval.guidance_scale != 0.0:
            guided = ValueGuidedPolicy(algo.sampling_policy, algo.cost_to_go, cfg.eval.guidance_scale)
            return guided.sample(n, gen, y), y
        return algo.sampling_policy.sample(n, gen, y), y
    model = load_pretrained(cfg, data_shape(dataset))
    model.eval()
    y = _sampling_labels(n, num_classes(model), label, cfg.device)
    if which == "base":
        return build_policy(cfg, model).to(cfg.device).sample(n, gen, y), y
    if isinstance(model, EDMDenoiser):
        if which == "ddim" or which in SOLVER_SAMPLERS:
            raise ConfigError(f"sampler {which} is for DDPM base models; an EDM base model offers base, ddpm, dxmi")
        # the many-step reference of an EDM model: Euler-ancestral on 100 (or --steps) rho-7 levels
        return model.sample_euler_ancestral(n, KarrasSchedule.build(steps or 100, rho=7.0), gen, y), y
    if which == "ddpm":
        return model.sample_ancestral(n, gen, y), y
    if which == "ddim" and spacing is None:
        return model.sample_ddim(n, steps or cfg.sampler.num_steps, gen, y), y
    from dxmi.diffusion.solvers import solver_sample

    try:
        return solver_sample(model, which, steps or cfg.sampler.num_steps, n, gen, spacing or "leading", y), y
    except ValueError as e:
        raise ConfigError(str(e)) from None


def eval_name(which: str, steps: int | None = None, spacing: str | None = None) -> str:
    """The stem of a sampler's evaluation files: ``eval_<stem>.json``, ``samples_<stem>.npy``."""
    return "_".join([which, *([str(steps)] if steps else []), *([spacing] if spacing else [])])


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


def evaluate(cfg: RunConfig, which: str = "dxmi", steps: int | None = None,
             spacing: str | None = None) -> dict[str, float]:
    from dxmi import metrics as M

    dataset = build_dataset(cfg)
    n = cfg.eval.n_samples
    t0 = time.perf_counter()
    # point clouds: scored in the model's standardised units (scores compare across data scales and
    # the Sinkhorn regularisation means the same for every file); samples_*.npy are in data units
    samples, labels = _draw_model_units(cfg, dataset, which, n, cfg.seed + 100, steps, None, spacing)
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
