"""Training-free few-step solvers from ``diffusers``, driven by the package's epsilon models.

These are the baselines a user would pick instead of DxMI: a scheduler swap on the same pretrained
network, no training. Nothing is re-implemented here: each solver is a ``diffusers`` scheduler built
on the model's own betas (``trained_betas``, float64 tables of :class:`~dxmi.schedules.DiscreteSchedule`)
and stepped with ``scheduler.step(eps_theta(x_k, k), k, x)``.

Solvers (:data:`SOLVERS`): ``ddim`` (eta = 0), ``dpmsolver++`` (DPM-Solver++ 2M, multistep, order 2),
``dpmsolver++3m`` (order 3), ``unipc`` / ``unipc3`` (UniPC-bh2, order 2 / 3), ``deis`` / ``deis3`` (DEIS,
multistep, order 2 / 3; it stops at index 0, so its samples keep noise of std sqrt(1 - alpha_bar_0),
0.01 on the linear schedule, where the others end at alpha_bar = 1), and DPM-Solver++ and DEIS with
``_full``: the order kept to the last step (diffusers lowers it over the last steps of short chains by
default; at 4 steps on digits DEIS-3 kept at order 3 is five times better than any default setting,
docs/dxmi.md). Not offered: UniPC-bh1 (NaN after three steps in diffusers 0.42, even on its own linear
betas) and Karras sigmas (measured several times worse at 4 and 10 steps on these models; docs/dxmi.md).
Spacings (:data:`SPACINGS`, diffusers' ``timestep_spacing``): ``leading`` (k = 0, N/S, 2N/S, ...: the
chain starts below the full noise level), ``trailing`` (starts at N - 1) and ``linspace`` (N - 1 .. 0,
evenly). Which spacing is best depends on the model and the number of steps, so :func:`choose_spacing`
picks it by a score on *validation* draws; the figure reported for the chosen spacing must come from other draws.

NFE: one network evaluation per step for every solver here (the multistep solvers reuse earlier
predictions), so ``num_steps`` is the NFE.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from dxmi.diffusion.ddpm import EpsilonModel
from dxmi.nets.conditioning import call

SPACINGS = ("leading", "trailing", "linspace")


@dataclass(frozen=True)
class SolverSpec:
    """A diffusers scheduler class name and its keyword settings (besides the betas and spacing)."""

    scheduler: str
    options: dict[str, Any]


def _multistep(scheduler: str, order: int, full: bool = False, options: dict[str, Any] | None = None) -> SolverSpec:
    """A diffusers multistep solver of ``order``; ``full``: that order up to the last step (diffusers'
    ``lower_order_final=False``; by default diffusers lowers the order over the last steps of a chain of
    fewer than 15, for stability)."""
    return SolverSpec(scheduler, {"solver_order": order, "lower_order_final": not full, **(options or {})})


_DPM, _DPM_OPTIONS = "DPMSolverMultistepScheduler", {"algorithm_type": "dpmsolver++"}
_UNIPC, _UNIPC_OPTIONS = "UniPCMultistepScheduler", {"solver_type": "bh2", "predict_x0": True}
_DEIS = "DEISMultistepScheduler"

#: name -> the diffusers scheduler and its settings. Deterministic (ODE) solvers only. ``_full``: the
#: solver's order kept to the last step (see :func:`_multistep`); UniPC is left out there: kept at order 2
#: its corrector diverges to inf on Dirac data, at order 3 it hits a singular system at 4 and 10 steps.
SOLVERS: dict[str, SolverSpec] = {
    "ddim": SolverSpec("DDIMScheduler", {"clip_sample": False, "set_alpha_to_one": True}),
    "dpmsolver++": _multistep(_DPM, 2, options=_DPM_OPTIONS),
    "dpmsolver++3m": _multistep(_DPM, 3, options=_DPM_OPTIONS),
    "dpmsolver++_full": _multistep(_DPM, 2, True, _DPM_OPTIONS),
    "dpmsolver++3m_full": _multistep(_DPM, 3, True, _DPM_OPTIONS),
    "unipc": _multistep(_UNIPC, 2, options=_UNIPC_OPTIONS),
    "unipc3": _multistep(_UNIPC, 3, options=_UNIPC_OPTIONS),
    "deis": _multistep(_DEIS, 2),
    "deis3": _multistep(_DEIS, 3),
    "deis_full": _multistep(_DEIS, 2, True),
    "deis3_full": _multistep(_DEIS, 3, True),
}


def _check(name: str, spacing: str, num_steps: int, model: EpsilonModel) -> None:
    if name not in SOLVERS:
        raise ValueError(f"unknown solver {name!r}; choose from {sorted(SOLVERS)}")
    if spacing not in SPACINGS:
        raise ValueError(f"unknown timestep spacing {spacing!r}; choose from {list(SPACINGS)}")
    if not isinstance(model, EpsilonModel):
        raise TypeError(f"the diffusers solvers drive DDPM epsilon models (EpsilonModel), got {type(model).__name__}")
    if not 1 <= num_steps <= model.schedule.num_steps:
        raise ValueError(f"num_steps must be in 1..{model.schedule.num_steps}, got {num_steps}")


def make_scheduler(name: str, model: EpsilonModel, num_steps: int, spacing: str = "leading") -> Any:
    """The diffusers scheduler ``name`` on the model's betas, with ``num_steps`` timesteps set."""
    _check(name, spacing, num_steps, model)
    from dxmi.diffusion.diffusers import import_diffusers

    spec = SOLVERS[name]
    cls = getattr(import_diffusers(), spec.scheduler)
    betas = model.schedule.betas
    sched = cls(num_train_timesteps=len(betas), trained_betas=betas.double().numpy().tolist(),
                prediction_type="epsilon", timestep_spacing=spacing, **spec.options)
    sched.set_timesteps(num_steps)
    return sched


@torch.no_grad()
def solver_trajectory(model: EpsilonModel, name: str, num_steps: int, n: int,
                      generator: torch.Generator | None = None, spacing: str = "leading",
                      y: Tensor | None = None) -> Tensor:
    """The solver's states x_0 (noise), x_1, ..., x_S (the samples): a (S + 1, n, *shape) tensor.

    x_0 ~ N(0, I) (times the scheduler's ``init_noise_sigma``, 1 for these), then for each timestep k of
    the scheduler: ``x <- scheduler.step(eps_theta(x, k[, y]), k, x).prev_sample``."""
    sched = make_scheduler(name, model, num_steps, spacing)
    dev = model.alpha_bar.device
    x = torch.randn((n, *model.sample_shape), generator=generator, device=dev) * float(sched.init_noise_sigma)
    states = torch.empty((len(sched.timesteps) + 1, *x.shape), device=dev, dtype=x.dtype)
    states[0] = x
    for i, k in enumerate(sched.timesteps):
        xin = sched.scale_model_input(x, k)
        eps = call(model.eps_net, xin, torch.full((n,), float(k), device=dev), y=y)
        x = sched.step(eps, k, x, return_dict=False)[0]
        states[i + 1] = x
    return states


def solver_timesteps(name: str, model: EpsilonModel, num_steps: int, spacing: str = "leading") -> list[int]:
    """The base indices k the solver evaluates the network at, noise to data."""
    return [int(k) for k in make_scheduler(name, model, num_steps, spacing).timesteps]


def solver_sample(model: EpsilonModel, name: str, num_steps: int, n: int, generator: torch.Generator | None = None,
                  spacing: str = "leading", y: Tensor | None = None) -> Tensor:
    """n samples of the ``name`` solver with ``num_steps`` network evaluations on ``spacing``
    (the last state of :func:`solver_trajectory`)."""
    return solver_trajectory(model, name, num_steps, n, generator, spacing, y)[-1]


@dataclass(frozen=True)
class SpacingChoice:
    """The spacing with the lowest validation score, and every spacing's score (lower is better)."""

    spacing: str
    scores: dict[str, float]


def choose_spacing(model: EpsilonModel, name: str, num_steps: int, n: int, score: Callable[[Tensor], float],
                   generator_factory: Callable[[], torch.Generator], spacings: Sequence[str] = SPACINGS,
                   y: Tensor | None = None) -> SpacingChoice:
    """Pick the timestep spacing of solver ``name`` by ``score`` (lower is better) on n samples per
    spacing, each drawn with a fresh generator from ``generator_factory`` (validation seeds: never the
    ones the reported figure is drawn with) and scored against a validation reference inside ``score``."""
    if not spacings:
        raise ValueError("choose_spacing needs at least one spacing")
    scores = {s: float(score(solver_sample(model, name, num_steps, n, generator_factory(), s, y)))
              for s in spacings}
    best = min(scores, key=lambda s: (scores[s], SPACINGS.index(s) if s in SPACINGS else 0))
    return SpacingChoice(best, scores)
