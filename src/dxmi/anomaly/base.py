"""The part every energy detector shares: its settings (:class:`DetectorConfig`), PyOD's
``fit`` / ``decision_function`` / ``predict`` over an energy E_phi, save / load, and resumable fits.

The score of x is the energy E_phi(s(x)) of the standardised (and by default whitened) input s(x),
fitted on the training data and part of the model (:mod:`dxmi.anomaly.inputs`). A subclass says
only how the energy is trained (:meth:`EnergyDetector.build_algorithm`, see
:mod:`dxmi.anomaly.detector`); the training itself runs through ``dxmi.training.Trainer``.
``save(folder)`` writes ``model.safetensors`` (energy weights + standardisation) and
``config.json`` (kind, input dimension, configuration); :func:`read_saved` reads them back.
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

from dxmi.algorithms.base import Algorithm
from dxmi.anomaly.inputs import Standardizer, as_matrix
from dxmi.energies import MLPEnergy
from dxmi.io import FileFormatError, load_safetensors, read_json
from dxmi.training import Trainer
from dxmi.validation import check_ranges

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
        whiten_net: with ``whiten``, whether the network sees the whitened inputs too (True) or
            the standardised ones s(x) = z W^-1 (False; the base still measures the whitened z).
            A linear first layer could absorb W^-1, so the function class is the same; what
            differs is the geometry the network starts from and learns in (whitening stretches the
            data's low-variance directions, in which nearest-neighbour distances are noise).
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
    quadratic: float = 0.1
    quadratic_sum: bool = True
    whiten: bool = True
    whiten_net: bool = False
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
        check_ranges(self, non_negative=("quadratic", "gamma"))
        if self.iterations < 1 or self.batch_size < 1 or self.hidden < 1 or self.depth < 1:
            raise ValueError("iterations, batch_size, hidden and depth must be >= 1")
        if not 0.0 <= self.energy_ema < 1.0:
            raise ValueError(f"energy_ema must be in [0, 1), got {self.energy_ema}")
        if not 0.0 < self.contamination < 0.5:
            raise ValueError(f"contamination must be in (0, 0.5), got {self.contamination}")


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
    def build_energy(self, standardizer: Standardizer) -> MLPEnergy:
        """The energy network over the inputs of ``standardizer``; without ``whiten_net`` the network
        is given its W^-1 (:meth:`Standardizer.unwhiten`), which maps whitened inputs back to
        standardised ones."""
        c = self.config
        dim = int(standardizer.mean.shape[0])
        quadratic = c.quadratic * dim if c.quadratic_sum else c.quadratic  # MLPEnergy's base is a mean over d
        energy = MLPEnergy(dim, hidden=c.hidden, depth=c.depth, spectral_norm=c.spectral_norm, quadratic=quadratic,
                           net_input=None if c.whiten_net else standardizer.unwhiten())
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
        torch.manual_seed(c.seed)  # network initialisation is part of the seeded fit
        energy = self.build_energy(self.standardizer).to(c.device)

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
        w = tensors.get("standardizer.whiten")
        self.standardizer = Standardizer(tensors["standardizer.mean"].to(self.config.device),
                                         tensors["standardizer.std"].to(self.config.device),
                                         w.to(self.config.device) if w is not None else None)
        if self.standardizer.mean.shape != (dim,):
            raise ValueError(f"saved detector: config.json says {dim} features, model.safetensors holds "
                             f"{tuple(self.standardizer.mean.shape)}")
        energy = self.build_energy(self.standardizer)
        energy.load_state_dict({k[len("energy."):]: v for k, v in tensors.items() if k.startswith("energy.")})
        self.energy = energy.to(self.config.device).eval()
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
        old: dict[str, Any] = read_json(path, "fit record")
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


def read_saved(folder: str | Path) -> tuple[dict[str, Any], dict[str, Tensor]]:
    folder = Path(folder)
    if not (folder / CONFIG_FILE).is_file() or not (folder / MODEL_FILE).is_file():
        raise FileNotFoundError(f"no saved detector in {folder} (expected {CONFIG_FILE} and {MODEL_FILE})")
    meta = read_json(folder / CONFIG_FILE, "detector config")
    if not isinstance(meta, dict):
        raise FileFormatError(f"{folder / CONFIG_FILE}: expected a JSON object")
    return meta, load_safetensors(folder / MODEL_FILE, "detector weights")[0]
