"""Drawing samples from a run: the trained sampler, its untrained start, and the base model with
ancestral DDPM, DDIM or a diffusers solver."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from dxmi.config import ConfigError, RunConfig
from dxmi.data.sources import balanced_labels, build_dataset, data_shape, to_data_units
from dxmi.diffusion.edm import EDMDenoiser
from dxmi.diffusion.solvers import SOLVERS
from dxmi.experiment.build import build_policy
from dxmi.experiment.fine_tuning import load_trained
from dxmi.experiment.pretraining import load_pretrained
from dxmi.experiment.run_folder import make_generator
from dxmi.nets.conditioning import num_classes
from dxmi.policies import ValueGuidedPolicy
from dxmi.schedules.karras import KarrasSchedule

#: training-free few-step solvers from diffusers (:mod:`dxmi.diffusion.solvers`), for DDPM base models
SOLVER_SAMPLERS = tuple(s for s in SOLVERS if s != "ddim")  # ddim has its own row: the evenly spaced default
SAMPLERS = ("dxmi", "base", "ddpm", "ddim", *SOLVER_SAMPLERS)


def sampling_labels(n: int, classes: int, label: int | None, device: str) -> Tensor | None:
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
    x, y = draw_model_units(cfg, dataset, which, n, seed, steps, label, spacing)
    return (to_data_units(dataset, x) if data_units else x), y


def draw_model_units(cfg: RunConfig, dataset: Any, which: str, n: int, seed: int, steps: int | None,
                      label: int | None, spacing: str | None) -> tuple[Tensor, Tensor | None]:
    """:func:`draw_labelled_samples` in the model's units (point clouds: standardised), from ``dataset``."""
    if which not in SAMPLERS:
        raise ConfigError(f"sampler must be one of {SAMPLERS}, got {which!r}")
    if spacing is not None and which not in ("ddim", *SOLVER_SAMPLERS):
        raise ConfigError(f"--spacing applies to ddim and the solvers {SOLVER_SAMPLERS}, not to {which!r}")
    gen = make_generator(cfg.device, seed)
    if which == "dxmi":
        algo = load_trained(cfg, dataset)
        y = sampling_labels(n, algo.policy.num_classes, label, cfg.device)
        if cfg.eval.guidance_scale != 0.0:
            guided = ValueGuidedPolicy(algo.sampling_policy, algo.cost_to_go, cfg.eval.guidance_scale)
            return guided.sample(n, gen, y), y
        return algo.sampling_policy.sample(n, gen, y), y
    model = load_pretrained(cfg, data_shape(dataset))
    model.eval()
    y = sampling_labels(n, num_classes(model), label, cfg.device)
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
