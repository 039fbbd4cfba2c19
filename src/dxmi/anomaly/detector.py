"""Energy-based anomaly detectors with PyOD's convention: ``fit(X)`` on normal data,
``decision_function(X)`` -> scores, higher = more anomalous.

The score of x is the energy E_phi(s(x)) of the standardised (and by default whitened) input s(x),
fitted on the training data and part of the model (:mod:`dxmi.anomaly.inputs`).
Three ways to train the same energy network:

- :class:`DxMIDetector` -- DxMI (``dxmi.algorithms.DxMI``): a separate energy and a time-dependent
  value V(x, t) with full soft-Bellman targets (entropy and velocity terms in the value targets,
  the paper's anomaly-detection variant), and a T-step Gaussian sampler trained from scratch
  (:class:`~dxmi.policies.ResidualMLPPolicy`); its samples are the EBM's negatives, no MCMC.
- :class:`LangevinEBMDetector` -- the MCMC baseline: short-run Langevin contrastive divergence
  (``dxmi.algorithms.LangevinCD``) on the same energy network and loss.
- :class:`VGSEBMDetector` -- contrastive divergence with Value Gradient Sampler negatives
  (``dxmi.algorithms.ebm_vgs.EBMVGS``): a T-step sampler whose drift is the gradient of a value
  learned by TD against the current energy, in place of MCMC; same energy network and loss.

What they share (fit / score / save, the settings of the energy) is :mod:`dxmi.anomaly.base`;
each class here only builds its training algorithm. ``load_detector(folder)`` restores a detector
that scores exactly as before (the sampler and value, which scoring does not need, are not saved).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import torch
from torch import Tensor

from dxmi.algorithms import DxMI, DxMIConfig, LangevinCD, LangevinCDConfig
from dxmi.algorithms.base import Algorithm
from dxmi.algorithms.ddpm import DDPMTraining
from dxmi.algorithms.ebm_vgs import EBMVGS
from dxmi.algorithms.vgs import VGSConfig
from dxmi.anomaly.base import (
    MODEL_FILE,
    DetectorConfig,
    EnergyDetector,
    read_saved,
    row_sampler,
)
from dxmi.config import from_dict
from dxmi.diffusion import EpsilonModel
from dxmi.energies import MLPEnergy
from dxmi.nets import TimeMLP
from dxmi.policies import DDPMSubsequencePolicy, GaussianPolicy, ResidualMLPPolicy
from dxmi.schedules.discrete import LinearBetaSchedule
from dxmi.training import Trainer
from dxmi.validation import check_ranges
from dxmi.values import TimeDependentValue

__all__ = ["MODEL_FILE", "DETECTORS", "DetectorConfig", "DxMIDetector", "DxMIDetectorConfig",
           "EnergyDetector", "LangevinDetectorConfig", "LangevinEBMDetector", "VGSDetectorConfig",
           "VGSEBMDetector", "load_vector_detector", "make_detector", "read_saved"]


@dataclass
class DxMIDetectorConfig(DetectorConfig):
    """DxMI settings (names as in :class:`dxmi.algorithms.DxMIConfig`).

    Attributes:
        num_steps: T, sampler steps.
        tau1 / tau2: entropy and velocity weights per dimension (both also in the value targets):
            DxMI gets tau1 * D and tau2 * D, because its running cost -tau1 log sigma_t and
            c_t = mean_d (...) are per-sample scalars while the entropy of a D-dimensional step is
            D log sigma_t. Without the factor D the sampler's effective temperature falls as 1/D
            and it collapses onto the energy's minima in high dimension.
        init_sigma / last_sigma: initial step std of steps 0..T-2, and the fixed last one.
        sampler_hidden: width of the sampler's and the value's MLPs.
        sampler_lr / sigma_lr / value_lr: Adam rates. The sampler's mean network learns slowly
            (3e-5) on purpose: a detector's energy learns from the gap between data and negatives,
            and a sampler that catches up with the energy (1e-3: its samples end at or below the
            data's energy) leaves it nothing to learn where the anomalies are; see docs/anomaly.md,
            "A slow sampler". With negatives that stay far, the energy itself learns faster
            (``energy_lr`` 3e-3 here, 1e-3 for the other detectors, for which 3e-3 did not help).
        entropy_in_value: regress the entropy costs -tau1 log sigma_k of the steps ahead in the
            value. They do not depend on x, so they change no gradient of the sampler loss; without
            them the value fits only the x-dependent part of the cost-to-go (the full soft-Bellman
            value is the network plus the known sum of those costs).
        pretrain_iterations: 0 (default) trains the sampler from scratch (``ResidualMLPPolicy``, a
            Gaussian random walk at the start). N > 0 first fits a DDPM to the standardised normal
            data for N iterations (:meth:`DxMIDetector.pretrain_ddpm`; the paper's regime, a
            diffusion model fine-tuned into a T-step sampler) and fine-tunes its T-step uniform
            subsequence (``DDPMSubsequencePolicy``) at ``sampler_lr``; ``init_sigma`` is then unused.
        pretrain_hidden / pretrain_batch_size / pretrain_lr / diffusion_steps: that DDPM's epsilon
            MLP width (depth 3), batch, Adam rate (cosine-decayed) and number of noise levels.
        fast_training: DxMI's speed options (:class:`~dxmi.algorithms.DxMIConfig`: ``td_batched``,
            ``split_cost_to_go``, ``dedup_times``, ``fused_adam``): fewer, larger operations per
            iteration (``benchmarks/speed.py`` measures them). Off by default: the numbers change
            (one batched TD regression per iteration instead of T sequential ones).
    """

    energy_lr: float = 3e-3  # DxMI's own default (the shared one is 1e-3): chosen with the slow sampler
    num_steps: int = 5
    tau1: float = 0.5
    tau2: float = 0.05
    init_sigma: float = 0.5
    last_sigma: float = 0.05
    sampler_hidden: int = 64
    sampler_lr: float = 3e-5
    sigma_lr: float = 1e-3
    value_lr: float = 1e-3
    entropy_in_value: bool = True
    pretrain_iterations: int = 0
    pretrain_hidden: int = 256
    pretrain_batch_size: int = 256
    pretrain_lr: float = 2e-3
    diffusion_steps: int = 1000
    fast_training: bool = False

    def __post_init__(self) -> None:
        super().__post_init__()
        check_ranges(self, positive=("init_sigma", "last_sigma"), at_least_one=("num_steps", "sampler_hidden"),
                     non_negative=("tau1", "tau2"))
        if self.pretrain_iterations < 0 or self.pretrain_hidden < 1 or self.pretrain_batch_size < 1:
            raise ValueError("pretrain_iterations must be >= 0, pretrain_hidden and pretrain_batch_size >= 1 "
                             f"(got {self.pretrain_iterations}, {self.pretrain_hidden}, {self.pretrain_batch_size})")
        if self.diffusion_steps < self.num_steps:
            raise ValueError(f"diffusion_steps ({self.diffusion_steps}) must be >= num_steps ({self.num_steps})")


@dataclass
class LangevinDetectorConfig(DetectorConfig):
    """Short-run Langevin settings (see :class:`dxmi.algorithms.LangevinCDConfig`). Its base energy
    weight is its own (0.2; the shared default 0.1 is DxMI's): each detector's best on the tuning
    sets (docs/anomaly.md, "Input geometry and a broad base")."""

    quadratic: float = 0.2
    langevin_steps: int = 20
    step_size: float = 0.05
    noise_scale: float = 1.0
    replay: float = 0.0

    def __post_init__(self) -> None:
        super().__post_init__()
        check_ranges(self, at_least_one=("langevin_steps",), positive=("step_size",), non_negative=("noise_scale",),
                     below_one=("replay",))


class DxMIDetector(EnergyDetector[DxMIDetectorConfig]):
    """Energy trained by DxMI (separate energy, time-dependent value, full soft-Bellman targets)."""

    kind = "dxmi"
    config_class = DxMIDetectorConfig

    def build_algorithm(self, energy: MLPEnergy, data: Tensor, generator: torch.Generator, run_dir: Path,
                        resume: bool = False, progress: bool = False) -> Algorithm:
        c = self.config
        dim = data.shape[1]
        policy: GaussianPolicy
        if c.pretrain_iterations > 0:
            base = self.pretrain_ddpm(data, run_dir / "pretrain", resume=resume, progress=progress)
            policy = DDPMSubsequencePolicy.from_model(base, c.num_steps, "uniform", last_sigma=c.last_sigma)
        else:
            sigmas = [c.init_sigma] * (c.num_steps - 1) + [c.last_sigma]
            policy = ResidualMLPPolicy(dim, sigmas, hidden=c.sampler_hidden, depth=2).to(c.device)
        value = TimeDependentValue(TimeMLP(dim, 1, hidden=c.sampler_hidden, depth=2, time_dim=32),
                                   (dim,), c.num_steps).to(c.device)
        algo_cfg = DxMIConfig(batch_size=c.batch_size, tau1=c.tau1 * dim, tau2=c.tau2 * dim, gamma=c.gamma,
                              entropy_in_value=c.entropy_in_value, velocity_in_value=True,
                              sampler_lr=c.sampler_lr, sigma_lr=c.sigma_lr, value_lr=c.value_lr,
                              energy_lr=c.energy_lr, energy_grad_clip=c.energy_grad_clip,
                              td_batched=c.fast_training, split_cost_to_go=c.fast_training,
                              dedup_times=c.fast_training, fused_adam=c.fast_training)
        return DxMI(policy, value, energy, algo_cfg, generator)

    def pretrain_ddpm(self, data: Tensor, run_dir: Path, resume: bool = False, progress: bool = False) -> EpsilonModel:
        """A DDPM (epsilon MLP ``pretrain_hidden`` x 3, ``diffusion_steps`` linear betas 1e-4 .. 0.02)
        fitted to the standardised normal data ``data`` (n, D) by the simple loss for
        ``pretrain_iterations`` steps (its own resumable run in ``run_dir``); the DxMI sampler is then
        its T-step uniform subsequence, fine-tuned from there."""
        c = self.config
        dim = data.shape[1]
        torch.manual_seed(c.seed + 3)
        net = TimeMLP(dim, dim, hidden=c.pretrain_hidden, depth=3, time_dim=64)
        model = EpsilonModel(net, LinearBetaSchedule(c.diffusion_steps), (dim,)).to(c.device)
        algo = DDPMTraining(model, lr=c.pretrain_lr, lr_decay_steps=c.pretrain_iterations,
                            generator=torch.Generator(device=c.device).manual_seed(c.seed + 4))
        Trainer(algo, row_sampler(data), c.pretrain_batch_size, c.pretrain_iterations, run_dir, seed=c.seed + 5,
                device=c.device, log_every=max(1, c.pretrain_iterations // 20), ckpt_every=0, progress=progress,
                tensorboard=False, desc="pretrain DDPM").fit(resume=resume)
        return model


class LangevinEBMDetector(EnergyDetector[LangevinDetectorConfig]):
    """The same energy trained by short-run Langevin contrastive divergence (MCMC)."""

    kind = "langevin_ebm"
    config_class = LangevinDetectorConfig

    def build_algorithm(self, energy: MLPEnergy, data: Tensor, generator: torch.Generator, run_dir: Path,
                        resume: bool = False, progress: bool = False) -> Algorithm:
        c = self.config
        return LangevinCD(energy, LangevinCDConfig(batch_size=c.batch_size, langevin_steps=c.langevin_steps,
                                                   step_size=c.step_size, noise_scale=c.noise_scale,
                                                   replay=c.replay, gamma=c.gamma, energy_lr=c.energy_lr,
                                                   energy_grad_clip=c.energy_grad_clip),
                          generator)


@dataclass
class VGSDetectorConfig(DetectorConfig):
    """VGS settings (names as in :class:`dxmi.algorithms.VGSConfig`; the rest keep its defaults).

    Attributes:
        num_steps: T, sampler steps; s2_start / s2_end: the VE chain's step variances (quadratic
            schedule), whose sum (about 0.9 here) is the spread the chain adds to ``x_0``.
        tau: temperature, the sampler targets exp(-E / tau) (1 = the EBM's own density, as
            Langevin with noise_scale 1).
        s_init: initial std of ``x_0`` (learnable, the standardised data's scale at the start).
        value_hidden / value_depth: the value MLP; value_lr: its Adam rate; ema: its target's decay.
        explore_noise: noise multiplier of the TD rollouts; vgs_steps: VGS iterations per energy step.
        energy_clip / drift_clip: clips of the energy seen by the sampler and of its drift.
    """

    num_steps: int = 10
    s2_start: float = 0.2
    s2_end: float = 0.01
    tau: float = 1.0
    s_init: float = 1.0
    value_hidden: int = 64
    value_depth: int = 2
    value_lr: float = 1e-3
    ema: float = 0.9
    explore_noise: float = 1.1
    vgs_steps: int = 1
    energy_clip: float = 50.0
    drift_clip: float = 10.0

    def __post_init__(self) -> None:
        super().__post_init__()
        check_ranges(self, at_least_one=("num_steps", "value_hidden", "value_depth", "vgs_steps"),
                     positive=("s2_start", "s2_end", "tau", "s_init", "explore_noise", "energy_clip", "drift_clip"),
                     below_one=("ema",))


class VGSEBMDetector(EnergyDetector[VGSDetectorConfig]):
    """The same energy trained by contrastive divergence with VGS negatives (no MCMC)."""

    kind = "vgs_ebm"
    config_class = VGSDetectorConfig

    def build_algorithm(self, energy: MLPEnergy, data: Tensor, generator: torch.Generator, run_dir: Path,
                        resume: bool = False, progress: bool = False) -> Algorithm:
        c = self.config
        dim = data.shape[1]
        vgs = from_dict(VGSConfig, dict(
            num_steps=c.num_steps, schedule="quad", s2_start=c.s2_start, s2_end=c.s2_end, variant="ve",
            tau=c.tau, ema=c.ema, batch_size=c.batch_size, value_lr=c.value_lr, s_init=c.s_init,
            explore_noise=c.explore_noise, energy_clip=c.energy_clip, drift_clip=c.drift_clip,
            seed=c.seed + 1, device=c.device, net=dict(hidden=c.value_hidden, depth=c.value_depth, time_dim=32)))
        return EBMVGS(energy, dim, vgs, energy_lr=c.energy_lr, reg=c.gamma, vgs_steps=c.vgs_steps,
                      max_grad_norm=c.energy_grad_clip, generator=generator)


DETECTORS: dict[str, type[EnergyDetector]] = {
    cls.kind: cls for cls in (DxMIDetector, LangevinEBMDetector, VGSEBMDetector)}


def make_detector(kind: str, **overrides: Any) -> EnergyDetector:
    """A detector by name (``dxmi``, ``langevin_ebm`` or ``vgs_ebm``) with config fields overridden.
    Unlike the constructor, the options are checked (and typed like a run config) here."""
    if kind not in DETECTORS:
        raise ValueError(f"unknown detector {kind!r}; choose from {sorted(DETECTORS)}")
    cls = DETECTORS[kind]
    fields = {f.name for f in dataclasses.fields(cls.config_class)}
    unknown = sorted(set(overrides) - fields)
    if unknown:
        raise ValueError(f"unknown {kind} option(s) {unknown}; valid: {sorted(fields)}")
    # typed like every run config: "3e-4" from the command line is a float, "abc" for one is an error
    return cast(EnergyDetector, cls.from_config(from_dict(cls.config_class, overrides, kind)))


def load_vector_detector(state: dict[str, Any]) -> EnergyDetector:
    """The vector detector of a saved state (:func:`dxmi.anomaly.base.read_saved`)."""
    kind = state.get("kind")
    if kind not in DETECTORS:
        raise ValueError(f"saved detector has unknown kind {kind!r}")
    config = dict(state["config"])
    # saved before whitening and the summed base existed: those models had neither
    config.setdefault("whiten", False)
    config.setdefault("quadratic_sum", False)
    config.setdefault("whiten_net", True)  # saved before whiten_net existed: the network saw the whitened inputs
    det = make_detector(kind, **config)
    det._restore(state)
    return det
