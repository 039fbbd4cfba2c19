"""Run configuration: typed dataclasses, YAML presets, ``key.sub=value`` overrides.

Unknown keys, wrong types and bad values are errors that name the key; nothing is ignored.
Presets live in ``dxmi/configs/<name>.yaml`` and are loaded with :func:`load_config`. The
dict-to-dataclass machinery (:func:`from_dict`, :func:`parse_override`, :class:`ConfigError`) lives
in :mod:`dxmi.settings`, below every other layer, and is re-exported here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from dxmi.algorithms.dxmi import DxMIConfig
from dxmi.io import read_yaml as read_yaml_file
from dxmi.nets.mlp import ACTIVATIONS
from dxmi.settings import ConfigError, from_dict, merge, parse_override, to_dict
from dxmi.training.precision import PRECISIONS
from dxmi.validation import check_ranges

__all__ = ["ConfigError", "DataConfig", "EvalConfig", "NetConfig", "PretrainConfig", "RunConfig", "SamplerConfig",
           "SelectConfig", "TrainConfig", "WarmstartConfig", "from_dict", "load_config", "parse_override",
           "preset_names", "read_yaml", "to_dict"]


@dataclass
class NetConfig:
    """A network. ``kind`` picks the builder from a registry in :mod:`dxmi.experiment.build`:
    ``mlp`` (vectors; hidden/depth/time_dim/fourier_*), ``unet`` (images, the epsilon-/denoiser
    network; channels/channel_mult/num_res_blocks/attention_resolutions/dropout/num_classes/groups)
    or ``conv`` (the image energy; channels/channel_mult/num_res_blocks/activation/energy_scale)."""

    kind: str = "mlp"
    hidden: int = 128
    depth: int = 3
    activation: str = "silu"
    time_dim: int = 64
    fourier_features: int = 0
    fourier_scale: float = 1.0
    channels: int = 32
    channel_mult: list[int] = field(default_factory=lambda: [1, 2])
    num_res_blocks: int = 1
    attention_resolutions: list[int] = field(default_factory=list)
    dropout: float = 0.0
    num_classes: int = 0
    groups: int = 8
    energy_scale: float = 1.0

    def __post_init__(self) -> None:
        check_ranges(self, at_least_one=("hidden", "depth", "time_dim", "channels", "num_res_blocks", "groups"),
                     non_negative=("fourier_features", "num_classes", "fourier_scale"), fraction=("dropout",),
                     positive=("energy_scale",))
        if self.time_dim % 2:
            raise ValueError(f"time_dim must be even (the sinusoidal time embedding), got {self.time_dim}")
        if self.activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)}, got {self.activation!r}")


@dataclass
class DataConfig:
    """``name``: a built-in 2D dataset (8gaussians, 2spirals, ...), ``file`` with ``path`` (a point
    cloud), an image dataset (``digits`` 8x8, ``mnist`` 28x28; see :mod:`dxmi.data.images`), or
    ``images`` / ``cifar10`` with ``path``: an image folder, a .npy/.npz array or the CIFAR-10 batches."""

    name: str = "8gaussians"
    path: str | None = None


@dataclass
class PretrainConfig:
    """The base model. ``model``: ``ddpm`` (epsilon prediction, N-step linear-beta schedule) or
    ``edm`` (EDM-preconditioned denoiser, sigma_data 0.5, c_noise = noise_scale * log sigma).
    ``diffusers_path``: a local diffusers pipeline or UNet folder (with its scheduler config) used as
    the pretrained DDPM instead of a ``dxmi pretrain`` checkpoint (nothing is downloaded).
    ``net.num_classes`` K > 0 makes the base model (and so the T-step sampler) class-conditional:
    it trains on (image, label) pairs, replacing a label by the null class K with probability
    ``label_dropout`` so that it also samples unconditionally."""

    model: str = "ddpm"
    diffusers_path: str | None = None
    steps: int = 3000
    batch_size: int = 512
    lr: float = 2e-3
    num_diffusion_steps: int = 1000
    beta_start: float = 1e-4
    beta_end: float = 0.02
    noise_scale: float = 0.25
    ema: float = 0.0
    label_dropout: float = 0.1
    net: NetConfig = field(default_factory=NetConfig)

    def __post_init__(self) -> None:
        check_ranges(self, non_negative=("steps",), at_least_one=("batch_size",), at_least_two=("num_diffusion_steps",),
                     positive=("noise_scale",), below_one=("beta_start", "beta_end", "ema", "label_dropout"))
        for name in ("beta_start", "beta_end"):
            if not 0 < getattr(self, name) < 1:
                raise ValueError(f"{name} must be in (0, 1), got {getattr(self, name)}")


@dataclass
class WarmstartConfig:
    """Optional warm start of the T-step policy (before DxMI): ``steps`` updates of
    :class:`~dxmi.algorithms.SolverDistillation`, regressing the policy's mean on the path of the
    diffusers solver whose timesteps the policy uses (``sampler.subsequence: <solver>/<spacing>``, e.g.
    ``unipc/leading``). 0 steps: off. ``on_policy``: also regress from the policy's own deterministic
    states onto the solver's path (against the compounding of one-step errors along the chain)."""

    steps: int = 0
    lr: float = 1e-4
    batch_size: int = 128
    on_policy: bool = False

    def __post_init__(self) -> None:
        check_ranges(self, non_negative=("steps",), at_least_one=("batch_size",))


@dataclass
class SamplerConfig:
    """The T-step policy built from the pretrained model, and the value/energy networks.

    DDPM base models use ``subsequence`` (uniform | leading | trailing | linspace | fastdpm_quadratic, or
    ``<solver>/<spacing>``: the timesteps of a diffusers solver, e.g. unipc/leading)
    and ``ddim_eta`` (the mean of each step: 1 = the DDPM posterior mean, 0 = the deterministic DDIM
    mean, between: DDIM's eta family; the initial sigma_t is ddim_eta times the posterior std, at least
    ``last_sigma``); EDM base models use Karras
    levels with ``rho`` (0 = the release's choice: rho 4 with a stochastic last step for T = 4,
    rho 7 otherwise) and ``stochastic_last`` (used when rho > 0)."""

    num_steps: int = 4
    subsequence: str = "uniform"
    ddim_eta: float = 1.0
    rho: float = 0.0
    stochastic_last: bool = False
    fix_last: bool = True
    last_sigma: float = 1e-3
    value: str = "time_dependent"
    warmstart: WarmstartConfig = field(default_factory=WarmstartConfig)
    value_net: NetConfig = field(default_factory=NetConfig)
    energy_net: NetConfig = field(default_factory=NetConfig)

    def __post_init__(self) -> None:
        check_ranges(self, at_least_one=("num_steps",), fraction=("ddim_eta",), non_negative=("rho", "last_sigma"))


@dataclass
class SelectConfig:
    """Checkpoint selection (:class:`~dxmi.training.BestCheckpoint`): every ``every`` iterations, and
    before the first, draw ``n_samples`` from the sampling policy with the validation seed and score
    them against the validation reference (2D: sliced Wasserstein to a separate draw of the data;
    images: FD in classifier features to the validation half of the images); the trained sampler
    is the best-scoring state. 0: off (the last state is the trained sampler)."""

    every: int = 0
    n_samples: int = 5000

    def __post_init__(self) -> None:
        check_ranges(self, non_negative=("every",), at_least_two=("n_samples",))


@dataclass
class TrainConfig:
    iterations: int = 1000
    update: str = "dxdp"
    algo: DxMIConfig = field(default_factory=DxMIConfig)
    select: SelectConfig = field(default_factory=SelectConfig)

    def __post_init__(self) -> None:
        check_ranges(self, non_negative=("iterations",))


@dataclass
class EvalConfig:
    n_samples: int = 5000
    classifier_steps: int = 600
    guidance_scale: float = 0.0
    grid_resolution: int = 200

    def __post_init__(self) -> None:
        check_ranges(self, at_least_one=("n_samples",), non_negative=("classifier_steps",),
                     at_least_two=("grid_resolution",))


@dataclass
class RunConfig:
    """``precision``: fp32, bf16 or fp16 (autocast + loss scaling; for GPUs)."""

    seed: int = 0
    device: str = "cpu"
    precision: str = "fp32"
    out: str = "runs/default"
    log_every: int = 50
    ckpt_every: int = 500
    tensorboard: bool = True
    progress: bool = True
    data: DataConfig = field(default_factory=DataConfig)
    pretrain: PretrainConfig = field(default_factory=PretrainConfig)
    sampler: SamplerConfig = field(default_factory=SamplerConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)

    def __post_init__(self) -> None:
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {sorted(PRECISIONS)}, got {self.precision!r}")
        check_ranges(self, at_least_one=("log_every",), non_negative=("ckpt_every",))
        p = self.pretrain
        if p.model == "ddpm" and not p.diffusers_path and self.sampler.num_steps > p.num_diffusion_steps:
            raise ValueError(f"sampler.num_steps ({self.sampler.num_steps}) must be <= pretrain.num_diffusion_steps "
                             f"({p.num_diffusion_steps}): the T steps are a subsequence of the base model's")


def preset_names() -> list[str]:
    return sorted(p.name[:-5] for p in resources.files("dxmi.configs").iterdir()
                  if p.name.endswith(".yaml"))


def read_yaml(source: str) -> dict[str, Any]:
    """A preset name or a path to a YAML file."""
    path = Path(source)
    if path.suffix in (".yaml", ".yml") or path.exists():
        data = read_yaml_file(path, "config") or {}
    else:
        res = resources.files("dxmi.configs") / f"{source}.yaml"
        if not res.is_file():
            raise ConfigError(f"unknown preset {source!r}; presets: {preset_names()} (or give a .yaml path)")
        data = yaml.safe_load(res.read_text()) or {}
    if not isinstance(data, dict):
        raise ConfigError(f"config {source!r} must be a mapping at the top level")
    return data


def load_config(source: str | None = None, overrides: list[str] | None = None) -> RunConfig:
    """The settings of a preset or YAML file (``source``) with ``key=value`` overrides on top; an error
    caused by the file's own settings names the file."""
    data: dict[str, Any] = read_yaml(source) if source else {}
    file_data = data
    for o in overrides or []:
        data = merge(data, parse_override(o))
    try:
        return from_dict(RunConfig, data)
    except ConfigError:
        if source and file_data and Path(source).suffix in (".yaml", ".yml"):
            try:
                from_dict(RunConfig, file_data)
            except ConfigError as e:
                raise ConfigError(f"{source}: {e}") from None
        raise
