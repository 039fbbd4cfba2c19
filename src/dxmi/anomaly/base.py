"""The part every energy detector shares: its settings (:class:`DetectorConfig`), PyOD's
``fit`` / ``decision_function`` / ``predict`` over an energy E_phi, save / load, and resumable fits.
The detectors are scikit-learn estimators and PyOD detectors (:mod:`dxmi.anomaly.estimator`).

The score of x is the energy E_phi(s(x)) of the standardised (and by default whitened) input s(x),
fitted on the training data and part of the model (:mod:`dxmi.anomaly.inputs`). A subclass says
only how the energy is trained (:meth:`EnergyDetector.build_algorithm`, see
:mod:`dxmi.anomaly.detector`); the training itself runs through ``dxmi.training.Trainer``.
``save(folder)`` writes ``model.safetensors``, a checkpoint of :mod:`dxmi.training.checkpoint`
(energy weights, standardisation, training scores, and kind, input dimension and configuration as
JSON metadata); :func:`read_saved` reads it back.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import inspect
import json
import tempfile
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, ClassVar, Generic, TypeVar

import numpy as np
import torch
from torch import Tensor, nn

from dxmi.algorithms.base import Algorithm
from dxmi.anomaly.estimator import DetectorBase, DetectorMixin, not_fitted
from dxmi.anomaly.inputs import Standardizer, as_matrix
from dxmi.config import from_dict
from dxmi.energies import MLPEnergy
from dxmi.io import FileFormatError, load_safetensors, read_json, safetensors_metadata, write_text_atomic
from dxmi.training import Trainer
from dxmi.training.checkpoint import load_checkpoint, save_checkpoint
from dxmi.validation import check_ranges

MODEL_FILE = "model.safetensors"
LEGACY_CONFIG_FILE = "config.json"  # the earlier layout's settings file, read by read_saved
LEGACY_FEATURE_MAP_FILE = "feature_map.json"


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


ConfigT = TypeVar("ConfigT", bound=DetectorConfig)


# DetectorBase comes last: without PyOD it is ``object``, which must follow Generic in the bases
class EnergyDetector(DetectorMixin, ABC, Generic[ConfigT], DetectorBase):
    """fit / decision_function / predict / save over an energy E_phi; subclasses build the training
    algorithm (:meth:`build_algorithm`). ``EnergyDetector[C]`` takes its options from the config class
    ``C`` (:attr:`config_class`), and :attr:`config` is a ``C``.

    A scikit-learn estimator and a PyOD detector (:mod:`dxmi.anomaly.estimator`): the constructor
    takes the fields of :attr:`config_class` as keyword arguments (``DxMIDetector(iterations=200,
    gamma=0.5)``) and only stores them; they are checked at ``fit``, and :attr:`config` is them as
    a checked config object. After ``fit``: ``energy_``, ``standardizer_``, ``n_features_in_``,
    ``decision_scores_`` (training scores), ``threshold_``, ``labels_``, ``last_metrics_``.
    """

    kind: ClassVar[str]
    config_class: type[ConfigT] = DetectorConfig  # type: ignore[assignment]  # a subclass names its own

    def __init__(self, **params: Any):
        defaults = self._param_defaults()
        unknown = sorted(set(params) - set(defaults))
        if unknown:
            raise TypeError(f"{type(self).__name__} got unknown option(s) {unknown}; valid: {sorted(defaults)}")
        for name, default in defaults.items():
            setattr(self, name, params.get(name, default))

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        clash = sorted(f.name for f in dataclasses.fields(cls.config_class) if hasattr(cls, f.name))
        if clash:
            raise TypeError(f"{cls.__name__}: option(s) {clash} of {cls.config_class.__name__} clash with attributes")
        if "__init__" not in cls.__dict__:
            cls.__init__ = _keyword_init(cls)  # type: ignore[method-assign]

    @classmethod
    def _param_defaults(cls) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in dataclasses.fields(cls.config_class):
            if f.default is not dataclasses.MISSING:
                out[f.name] = f.default
            elif f.default_factory is not dataclasses.MISSING:
                out[f.name] = f.default_factory()
            else:
                raise TypeError(f"{cls.config_class.__name__}.{f.name} has no default")
        return out

    @classmethod
    def _get_param_names(cls) -> list[str]:
        return sorted(f.name for f in dataclasses.fields(cls.config_class))

    @classmethod
    def from_config(cls, config: DetectorConfig) -> Any:
        """The detector with the options of ``config`` (a :attr:`config_class`)."""
        if not isinstance(config, cls.config_class):
            raise TypeError(f"{cls.__name__} takes a {cls.config_class.__name__}, got {type(config).__name__}")
        return cls(**{f.name: getattr(config, f.name) for f in dataclasses.fields(config)})

    @property
    def config(self) -> ConfigT:
        """The options as a checked :attr:`config_class`, typed like a run config ("3e-4" is a float);
        a bad one is a ``ValueError`` naming it."""
        params = {k: v.item() if isinstance(v, np.generic) else v for k, v in self.get_params().items()}
        return from_dict(self.config_class, params, self.kind)

    # fitted state under scikit-learn's trailing-underscore names; the plain names read (and, for a
    # hand-built detector, set) the same attributes
    @property
    def energy(self) -> MLPEnergy | None:
        return getattr(self, "energy_", None)

    @energy.setter
    def energy(self, value: MLPEnergy | None) -> None:
        self.energy_ = value

    @property
    def standardizer(self) -> Standardizer | None:
        return getattr(self, "standardizer_", None)

    @standardizer.setter
    def standardizer(self, value: Standardizer | None) -> None:
        self.standardizer_ = value

    @property
    def last_metrics(self) -> dict[str, float]:
        return dict(getattr(self, "last_metrics_", {}))

    def __sklearn_is_fitted__(self) -> bool:
        return self.energy is not None and self.standardizer is not None

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
        standardizer = Standardizer.fit(x.to(c.device), whiten=c.whiten)
        data = standardizer(x.to(c.device))
        torch.manual_seed(c.seed)  # network initialisation is part of the seeded fit
        energy = self.build_energy(standardizer).to(c.device)

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
        self.last_metrics_ = dict(result.last_metrics)
        self.standardizer_ = standardizer
        self.energy_ = (ema if c.energy_ema > 0 else energy).eval()
        self.n_features_in_ = int(x.shape[1])
        self.decision_scores_ = self.energies(x).numpy().astype(np.float64)
        self._process_decision_scores()
        return self

    def _check_fitted(self) -> tuple[MLPEnergy, Standardizer]:
        energy, standardizer = self.energy, self.standardizer
        if energy is None or standardizer is None:
            raise not_fitted(f"This {type(self).__name__} instance is not fitted yet: call fit(X) or "
                             "load_detector(folder) first")
        return energy, standardizer

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
        self._check_fitted()
        return self.energies(as_matrix(X, dim=self.dim, owner=type(self).__name__)).numpy().astype(np.float64)

    # -- persistence ----------------------------------------------------------------------------
    def saved_state(self) -> dict[str, Any]:
        """What :meth:`save` writes: kind, input dimension, options, threshold, training scores,
        the energy's weights and the standardisation (a nested state for ``save_checkpoint``)."""
        energy, st = self._check_fitted()
        state: dict[str, Any] = {
            "kind": self.kind, "dim": self.dim, "config": asdict(self.config),
            "threshold": getattr(self, "threshold_", None),
            "energy": energy.state_dict(),
            "standardizer": {"mean": st.mean, "std": st.std, "whiten": st.whiten}}
        scores = getattr(self, "decision_scores_", None)
        if scores is not None:
            state["decision_scores"] = torch.as_tensor(np.asarray(scores, dtype=np.float64))
        return state

    def save(self, folder: str | Path) -> Path:
        """Write ``folder/model.safetensors``, one checkpoint file
        (:func:`dxmi.training.checkpoint.save_checkpoint`: written atomically, tensors plus the
        options as JSON metadata); :func:`dxmi.anomaly.load_detector` reads it back."""
        folder = Path(folder)
        save_checkpoint(folder / MODEL_FILE, self.saved_state())
        return folder

    def _restore(self, state: dict[str, Any]) -> None:
        device = self.config.device
        st = state["standardizer"]
        w = st.get("whiten")
        standardizer = Standardizer(st["mean"].to(device), st["std"].to(device),
                                    w.to(device) if w is not None else None)
        dim = int(state["dim"])
        if standardizer.mean.shape != (dim,):
            raise ValueError(f"saved detector: its settings say {dim} features, its weights hold "
                             f"{tuple(standardizer.mean.shape)}")
        energy = self.build_energy(standardizer)
        energy.load_state_dict(state["energy"])
        self.standardizer_ = standardizer
        self.energy_ = energy.to(device).eval()
        self.n_features_in_ = dim
        scores = state.get("decision_scores")
        if scores is not None:
            self.decision_scores_ = scores.cpu().numpy().astype(np.float64)
            self._process_decision_scores()
        if state.get("threshold") is not None:
            self.threshold_ = float(state["threshold"])


def _keyword_init(cls: type[EnergyDetector]) -> Callable[..., None]:
    """``cls.__init__`` with the fields of ``cls.config_class`` as its keyword arguments in its
    signature (scikit-learn reads an estimator's parameters from there)."""
    def __init__(self: EnergyDetector, **params: Any) -> None:
        EnergyDetector.__init__(self, **params)

    params = [inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD)]
    params += [inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default)
               for name, default in cls._param_defaults().items()]
    __init__.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    __init__.__qualname__ = f"{cls.__qualname__}.__init__"
    __init__.__module__ = cls.__module__
    __init__.__doc__ = (f"Options by keyword: the fields of :class:`{cls.config_class.__name__}` (its defaults); "
                        "stored as given and checked at ``fit``.")
    return __init__


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
    write_text_atomic(path, json.dumps(record, indent=2))  # a fit killed while writing it still resumes


def read_saved(folder: str | Path) -> dict[str, Any]:
    """The state a detector saved in ``folder`` (:meth:`EnergyDetector.saved_state`, plus
    ``feature_map`` for a feature-map detector). Folders written before detectors were saved as one
    checkpoint (plain tensors in ``model.safetensors``, settings in ``config.json``, a feature-map
    detector's in ``feature_map.json``) are read too."""
    folder = Path(folder)
    path = folder / MODEL_FILE
    if not path.is_file():
        raise FileNotFoundError(f"no saved detector in {folder} (expected {MODEL_FILE})")
    if "dxmi_state" not in safetensors_metadata(path, "saved detector"):
        return _read_legacy(folder)
    state = load_checkpoint(path)
    if not isinstance(state, dict) or not {"kind", "dim", "config", "energy", "standardizer"} <= set(state):
        raise FileFormatError(f"{path} is a dxmi checkpoint but not a saved anomaly detector")
    return state


def _read_legacy(folder: Path) -> dict[str, Any]:
    """The state of a folder in the earlier layout: ``model.safetensors`` (tensors ``energy.*``,
    ``standardizer.*``) beside ``config.json`` (kind, dim, config, threshold)."""
    if not (folder / LEGACY_CONFIG_FILE).is_file():
        raise FileFormatError(f"{folder / MODEL_FILE} holds no saved detector (no settings in it, and no "
                              f"{LEGACY_CONFIG_FILE} beside it)")
    meta = read_json(folder / LEGACY_CONFIG_FILE, "detector config")
    if not isinstance(meta, dict):
        raise FileFormatError(f"{folder / LEGACY_CONFIG_FILE}: expected a JSON object")
    tensors = load_safetensors(folder / MODEL_FILE, "detector weights")[0]
    missing = [k for k in ("standardizer.mean", "standardizer.std") if k not in tensors]
    if missing:
        raise FileFormatError(f"{folder / MODEL_FILE}: no {', '.join(missing)}")
    state = dict(meta)
    state["energy"] = {k[len("energy."):]: v for k, v in tensors.items() if k.startswith("energy.")}
    state["standardizer"] = {"mean": tensors["standardizer.mean"], "std": tensors["standardizer.std"],
                             "whiten": tensors.get("standardizer.whiten")}
    fm = folder / LEGACY_FEATURE_MAP_FILE
    if fm.is_file():
        state["feature_map"] = read_json(fm, "feature-map detector config")
    return state
