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

Both train through ``dxmi.training.Trainer``. ``save(folder)`` writes ``model.safetensors``
(energy weights + standardisation) and ``config.json`` (kind, input dimension, configuration);
``load_detector(folder)`` restores a detector that scores exactly as before (the sampler and value,
which scoring does not need, are not saved).
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import json
import tempfile
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from torch import Tensor, nn

from dxmi.algorithms import DxMI, DxMIConfig, LangevinCD, LangevinCDConfig
from dxmi.algorithms.base import Algorithm
from dxmi.algorithms.ddpm import DDPMTraining
from dxmi.algorithms.ebm_vgs import EBMVGS
from dxmi.algorithms.vgs import VGSConfig
from dxmi.anomaly.inputs import Standardizer, as_matrix
from dxmi.config import from_dict
from dxmi.diffusion import EpsilonModel
from dxmi.energies import MLPEnergy
from dxmi.nets import TimeMLP
from dxmi.policies import DDPMSubsequencePolicy, GaussianPolicy, ResidualMLPPolicy
from dxmi.schedules.discrete import LinearBetaSchedule
from dxmi.training import Trainer
from dxmi.values import TimeDependentValue

MODEL_FILE = "model.safetensors"
CONFIG_FILE = "config.json"


@dataclass
class DetectorConfig:
    """Settings shared by every energy detector (one default for all datasets).

    Attributes:
        hidden / depth: energy MLP width and number of hidden layers.
        spectral_norm: spectral normalisation of the energy's linear layers.
        quadratic: weight of the fixed base energy quadratic * mean_d x_d^2 / 2 (standardised x),
            or quadratic * sum_d x_d^2 / 2 with ``quadratic_sum`` (a Gaussian of variance
            1 / quadratic per input coordinate, whatever the dimension).
        whiten: also whiten the standardised inputs with the Ledoit-Wolf shrinkage covariance of
            the training data (part of the fitted model), so that the base energy is the
            Mahalanobis distance / (2 D) and the network sees decorrelated inputs.
        zero_init: start the network's output layer at zero, so that training starts from the
            base energy (the Gaussian prior when ``quadratic`` > 0) and refines it.
        iterations: training iterations; batch_size: data batch (and negatives) per iteration.
        energy_lr: Adam rate of the energy; gamma: weight of the energy-magnitude regulariser
            gamma (mean E(data)^2 + mean E(negatives)^2); energy_grad_clip: its gradient-norm clip.
        energy_ema: decay of the exponential moving average of the energy's parameters that
            scores (0 scores with the last iterate). The energy of an adversarial game oscillates
            from iteration to iteration; the average is a much steadier detector.
        contamination: expected anomaly fraction of the training data, sets ``threshold_`` for
            :meth:`EnergyDetector.predict` (PyOD's meaning).
        seed: seeds network initialisation, batches and the sampler.
        device: torch device.
    """

    hidden: int = 128
    depth: int = 3
    spectral_norm: bool = False
    quadratic: float = 0.5
    quadratic_sum: bool = True
    whiten: bool = True
    zero_init: bool = True
    iterations: int = 500
    batch_size: int = 128
    energy_lr: float = 1e-3
    gamma: float = 0.2
    energy_grad_clip: float | None = 1.0
    energy_ema: float = 0.99
    contamination: float = 0.1
    seed: int = 0
    device: str = "cpu"

    def __post_init__(self) -> None:
        if self.iterations < 1 or self.batch_size < 1 or self.hidden < 1 or self.depth < 1:
            raise ValueError("iterations, batch_size, hidden and depth must be >= 1")
        if not 0.0 <= self.energy_ema < 1.0:
            raise ValueError(f"energy_ema must be in [0, 1), got {self.energy_ema}")
        if not 0.0 < self.contamination < 0.5:
            raise ValueError(f"contamination must be in (0, 0.5), got {self.contamination}")


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
            "Session 21". With negatives that stay far, the energy itself learns faster
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

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.pretrain_iterations < 0 or self.pretrain_hidden < 1 or self.pretrain_batch_size < 1:
            raise ValueError("pretrain_iterations must be >= 0, pretrain_hidden and pretrain_batch_size >= 1 "
                             f"(got {self.pretrain_iterations}, {self.pretrain_hidden}, {self.pretrain_batch_size})")
        if self.diffusion_steps < self.num_steps:
            raise ValueError(f"diffusion_steps ({self.diffusion_steps}) must be >= num_steps ({self.num_steps})")


@dataclass
class LangevinDetectorConfig(DetectorConfig):
    """Short-run Langevin settings (see :class:`dxmi.algorithms.LangevinCDConfig`)."""

    langevin_steps: int = 20
    step_size: float = 0.05
    noise_scale: float = 1.0
    replay: float = 0.0


class EnergyDetector(ABC):
    """fit / decision_function / predict / save over an energy E_phi; subclasses build the training
    algorithm (:meth:`build_algorithm`)."""

    kind: ClassVar[str]
    config_class: ClassVar[type[DetectorConfig]] = DetectorConfig

    def __init__(self, config: DetectorConfig | None = None, **overrides: Any):
        cfg = config or self.config_class()
        if not isinstance(cfg, self.config_class):
            raise TypeError(f"{type(self).__name__} takes a {self.config_class.__name__}, got {type(cfg).__name__}")
        self.config = dataclasses.replace(cfg, **overrides) if overrides else cfg
        self.energy: MLPEnergy | None = None
        self.standardizer: Standardizer | None = None
        self.decision_scores_: np.ndarray | None = None
        self.threshold_: float | None = None
        self.last_metrics: dict[str, float] = {}

    # -- parts ----------------------------------------------------------------------------------
    def build_energy(self, dim: int) -> MLPEnergy:
        c = self.config
        quadratic = c.quadratic * dim if c.quadratic_sum else c.quadratic  # MLPEnergy's base is a mean over d
        energy = MLPEnergy(dim, hidden=c.hidden, depth=c.depth, spectral_norm=c.spectral_norm, quadratic=quadratic)
        if c.zero_init:
            last = [m for m in energy.net.modules() if isinstance(m, nn.Linear)][-1]
            with torch.no_grad():
                last.weight.zero_()
                last.bias.zero_()
        return energy

    @abstractmethod
    def build_algorithm(self, energy: MLPEnergy, data: Tensor, generator: torch.Generator, run_dir: Path,
                        resume: bool = False, progress: bool = False) -> Algorithm:
        """The training algorithm over ``energy`` for the standardised training data ``data`` (n, D)
        (parts are built here, passed in). ``run_dir`` is the fit's folder: a part that needs its own
        training run (a pretrained sampler) keeps it in a subfolder, resumed with ``resume``."""

    # -- PyOD interface -------------------------------------------------------------------------
    def fit(self, X: Any, y: Any = None, workdir: str | Path | None = None, progress: bool = False,
            resume: bool = False, ckpt_every: int = 0) -> EnergyDetector:
        """Fit on normal data X (n, d); ``y`` is ignored (unsupervised, as in PyOD).

        With ``workdir`` the training run lives there (``metrics.csv``, checkpoints every
        ``ckpt_every`` iterations and at the end). ``resume=True`` continues the run found there: an
        interrupted fit finishes as if uninterrupted, and a finished one trains on up to a larger
        ``iterations``. Resuming needs the same data and the same settings apart from ``iterations``
        (checked against ``workdir/fit_config.json``); the energy's moving average is part of the
        checkpoint.
        """
        c = self.config
        if resume and workdir is None:
            raise ValueError("resume=True needs the workdir of the run to continue")
        x = as_matrix(X)
        self.standardizer = Standardizer.fit(x.to(c.device), whiten=c.whiten)
        data = self.standardizer(x.to(c.device))
        dim = x.shape[1]
        torch.manual_seed(c.seed)  # network initialisation is part of the seeded fit
        energy = self.build_energy(dim).to(c.device)

        batches = row_sampler(data)
        ema = copy.deepcopy(energy).requires_grad_(False)

        def update_ema(step: int, _: Algorithm) -> None:
            with torch.no_grad():
                for pe, p in zip(ema.parameters(), energy.parameters()):
                    pe.lerp_(p.detach(), 1 - c.energy_ema)
                for be, b in zip(ema.buffers(), energy.buffers()):
                    be.copy_(b)

        if workdir is not None:
            _check_fit_config(Path(workdir), self.kind, x, c, resume)
        with tempfile.TemporaryDirectory(prefix="dxmi_anomaly_") as tmp:
            run_dir = Path(workdir or tmp)
            algo = self.build_algorithm(energy, data, torch.Generator(device=c.device).manual_seed(c.seed + 1),
                                        run_dir, resume=resume, progress=progress)
            trainer = Trainer(algo, batches, c.batch_size, c.iterations, run_dir, seed=c.seed + 2,
                              device=c.device, log_every=max(1, c.iterations // 20), ckpt_every=ckpt_every,
                              progress=progress, tensorboard=False, desc=f"fit {self.kind}",
                              callback=update_ema if c.energy_ema > 0 else None, callback_every=1,
                              extra_modules={"energy_ema": ema})
            result = trainer.fit(resume=resume)
        self.last_metrics = dict(result.last_metrics)
        self.energy = (ema if c.energy_ema > 0 else energy).eval()
        self.decision_scores_ = self.decision_function(x)
        self.threshold_ = float(np.quantile(self.decision_scores_, 1 - c.contamination))
        return self

    def _check_fitted(self) -> tuple[MLPEnergy, Standardizer]:
        if self.energy is None or self.standardizer is None:
            raise RuntimeError(f"{type(self).__name__} is not fitted: call fit(X) or load_detector(folder) first")
        return self.energy, self.standardizer

    @property
    def dim(self) -> int:
        energy, _ = self._check_fitted()
        return int(energy.sample_shape[0])

    @torch.no_grad()
    def energies(self, x: Tensor, chunk: int = 8192) -> Tensor:
        """E(s(x)) for a float tensor x (n, d): (n,) on the CPU."""
        energy, st = self._check_fitted()
        out = [energy(st(x[i:i + chunk].to(st.mean.device))).cpu() for i in range(0, x.shape[0], chunk)]
        return torch.cat(out) if out else torch.zeros(0)

    def decision_function(self, X: Any) -> np.ndarray:
        """Anomaly scores (n,), higher = more anomalous."""
        return self.energies(as_matrix(X, dim=self.dim)).numpy().astype(np.float64)

    def predict(self, X: Any) -> np.ndarray:
        """1 = anomaly (score above the training-score quantile 1 - contamination), else 0."""
        if self.threshold_ is None:
            raise RuntimeError(f"{type(self).__name__} is not fitted")
        return (self.decision_function(X) > self.threshold_).astype(np.int64)

    # -- persistence ----------------------------------------------------------------------------
    def save(self, folder: str | Path) -> Path:
        from safetensors.torch import save_file

        energy, st = self._check_fitted()
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        tensors = {f"energy.{k}": v.detach().cpu().contiguous() for k, v in energy.state_dict().items()}
        tensors["standardizer.mean"] = st.mean.cpu().contiguous()
        tensors["standardizer.std"] = st.std.cpu().contiguous()
        if st.whiten is not None:
            tensors["standardizer.whiten"] = st.whiten.cpu().contiguous()
        save_file(tensors, str(folder / MODEL_FILE))
        meta = {"kind": self.kind, "dim": self.dim, "config": asdict(self.config),
                "threshold": self.threshold_}
        (folder / CONFIG_FILE).write_text(json.dumps(meta, indent=2))
        return folder

    def _restore(self, tensors: dict[str, Tensor], dim: int, threshold: float | None) -> None:
        energy = self.build_energy(dim)
        energy.load_state_dict({k[len("energy."):]: v for k, v in tensors.items() if k.startswith("energy.")})
        self.energy = energy.to(self.config.device).eval()
        w = tensors.get("standardizer.whiten")
        self.standardizer = Standardizer(tensors["standardizer.mean"].to(self.config.device),
                                         tensors["standardizer.std"].to(self.config.device),
                                         w.to(self.config.device) if w is not None else None)
        self.threshold_ = threshold


def row_sampler(data: Tensor) -> Callable[[int, torch.Generator], Tensor]:
    """The training loop's batch source over the rows of ``data`` (n, D): n rows drawn uniformly
    with replacement by the loop's generator."""
    def batches(n: int, g: torch.Generator) -> Tensor:
        return data[torch.randint(data.shape[0], (n,), generator=g).to(data.device)]
    return batches


FIT_CONFIG_FILE = "fit_config.json"


def _check_fit_config(workdir: Path, kind: str, data: Tensor, config: DetectorConfig, resume: bool) -> None:
    """Write ``workdir/fit_config.json`` (kind, shape and SHA-1 of the raw training data, settings
    without ``iterations``); when resuming a run that wrote one, refuse other data or settings."""
    digest = hashlib.sha1(data.detach().cpu().contiguous().numpy().tobytes()).hexdigest()
    settings = {k: v for k, v in asdict(config).items() if k not in ("iterations", "device")}
    record: dict[str, Any] = json.loads(json.dumps(  # as it reads back from the file
        {"kind": kind, "data_shape": list(data.shape), "data_sha1": digest, "config": settings}))
    path = workdir / FIT_CONFIG_FILE
    if resume and path.is_file():
        old: dict[str, Any] = json.loads(path.read_text())
        old_settings: dict[str, Any] = old.get("config", {})
        diff = sorted(k for k in set(old) | set(record) if k != "config" and old.get(k) != record.get(k))
        diff += sorted(k for k in set(old_settings) | set(record["config"])
                       if old_settings.get(k) != record["config"].get(k))
        if diff:
            raise ValueError(f"cannot resume the fit in {workdir}: it was started with a different "
                             f"{', '.join(diff)} (only iterations may change); use a new folder, or fit from "
                             f"scratch (resume=False, no --resume)")
    workdir.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record, indent=2))


class DxMIDetector(EnergyDetector):
    """Energy trained by DxMI (separate energy, time-dependent value, full soft-Bellman targets)."""

    kind = "dxmi"
    config_class = DxMIDetectorConfig
    config: DxMIDetectorConfig

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
                              energy_lr=c.energy_lr, energy_grad_clip=c.energy_grad_clip)
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


class LangevinEBMDetector(EnergyDetector):
    """The same energy trained by short-run Langevin contrastive divergence (MCMC)."""

    kind = "langevin_ebm"
    config_class = LangevinDetectorConfig
    config: LangevinDetectorConfig

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


class VGSEBMDetector(EnergyDetector):
    """The same energy trained by contrastive divergence with VGS negatives (no MCMC)."""

    kind = "vgs_ebm"
    config_class = VGSDetectorConfig
    config: VGSDetectorConfig

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
    """A detector by name (``dxmi``, ``langevin_ebm`` or ``vgs_ebm``) with config fields overridden."""
    if kind not in DETECTORS:
        raise ValueError(f"unknown detector {kind!r}; choose from {sorted(DETECTORS)}")
    cls = DETECTORS[kind]
    fields = {f.name for f in dataclasses.fields(cls.config_class)}
    unknown = sorted(set(overrides) - fields)
    if unknown:
        raise ValueError(f"unknown {kind} option(s) {unknown}; valid: {sorted(fields)}")
    # typed like every run config: "3e-4" from the command line is a float, "abc" for one is an error
    return cls(from_dict(cls.config_class, overrides, kind))


def read_saved(folder: str | Path) -> tuple[dict[str, Any], dict[str, Tensor]]:
    from safetensors.torch import load_file

    folder = Path(folder)
    if not (folder / CONFIG_FILE).is_file() or not (folder / MODEL_FILE).is_file():
        raise FileNotFoundError(f"no saved detector in {folder} (expected {CONFIG_FILE} and {MODEL_FILE})")
    meta = json.loads((folder / CONFIG_FILE).read_text())
    return meta, load_file(str(folder / MODEL_FILE))


def load_vector_detector(meta: dict[str, Any], tensors: dict[str, Tensor]) -> EnergyDetector:
    kind = meta.get("kind")
    if kind not in DETECTORS:
        raise ValueError(f"saved detector has unknown kind {kind!r}")
    config = dict(meta["config"])
    # saved before whitening and the summed base existed: those models had neither
    config.setdefault("whiten", False)
    config.setdefault("quadratic_sum", False)
    det = make_detector(kind, **config)
    det._restore(tensors, int(meta["dim"]), meta.get("threshold"))
    return det
