"""Pretrained diffusers ``UNet2DModel`` checkpoints as the base model's epsilon-network.

A diffusers DDPM/DDIM model is two pieces: a ``UNet2DModel`` that predicts the noise
eps_theta(x_k, k) at an integer (here: continuous) diffusion index k in 0..N-1, and a scheduler
config whose betas define the forward process q(x_k | x) = N(sqrt(alpha_bar_k) x, (1 - alpha_bar_k) I).
:func:`load_diffusers_eps_model` turns the pair into our :class:`~dxmi.diffusion.ddpm.EpsilonModel`
(the network is wrapped by :class:`DiffusersEpsNet` so that it has the package's
``net(x, k) -> eps`` signature), from which the T-step policies are built exactly as for a model
pretrained here.

Folder layouts accepted (nothing is downloaded; ``local_files_only``):

- a pipeline folder: ``model_index.json``, ``unet/`` (``config.json`` + weights) and
  ``scheduler/scheduler_config.json``;
- a UNet folder (``config.json`` with ``_class_name: UNet2DModel`` + weights), with the scheduler
  config beside it (``scheduler_config.json``), in a sibling ``../scheduler/`` folder, or given
  explicitly (``scheduler=`` a path or a :class:`~dxmi.schedules.DiscreteSchedule`).

diffusers is an optional dependency (the ``images`` extra), imported only when a model is loaded.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from dxmi.diffusion.ddpm import EpsilonModel
from dxmi.io import read_json as read_json_file
from dxmi.schedules.discrete import CosineSchedule, DiscreteSchedule, LinearBetaSchedule

__all__ = [
    "BETA_SCHEDULES",
    "DiffusersEpsNet",
    "find_diffusers_files",
    "load_diffusers_eps_model",
    "load_diffusers_unet",
    "save_diffusers_eps_model",
    "schedule_from_scheduler_config",
    "scheduler_config_from_schedule",
]

UNET_CLASS = "UNet2DModel"


def import_diffusers() -> Any:
    """The diffusers module, or an ImportError that names the extra to install."""
    try:
        import diffusers
    except ImportError as e:  # pragma: no cover - exercised only without the extra
        raise ImportError("loading diffusers models needs the optional 'images' extra: "
                          "pip install 'dxmi[images]' (installs diffusers)") from e
    return diffusers


# -- the network adapter ---------------------------------------------------------------------------
class DiffusersEpsNet(nn.Module):
    """``net(x (B, C, H, W), k (B,) float[, y (B,) long]) -> eps (B, C, H, W)`` around a ``UNet2DModel``.

    k is the base diffusion index (continuous, 0..N-1), passed to the UNet's sinusoidal time
    embedding as is; ``y`` goes to the UNet's class embedding (class-conditional UNets only).
    UNets with ``out_channels = 2 C`` (a learned-variance head) return eps as the first C channels.
    """

    def __init__(self, unet: nn.Module):
        super().__init__()
        self.unet = unet
        cfg: Any = getattr(unet, "config")  # noqa: B009 - a diffusers FrozenDict, untyped
        self.in_channels = int(cfg.in_channels)
        self.out_channels = int(cfg.out_channels)
        if self.out_channels not in (self.in_channels, 2 * self.in_channels):
            raise ValueError(f"UNet has in_channels={self.in_channels} and out_channels={self.out_channels}; "
                             "an epsilon-network needs out_channels = in_channels (or 2x with a variance head)")
        size = cfg.sample_size
        self.image_size = (int(size), int(size)) if isinstance(size, int) else (int(size[0]), int(size[1]))
        self.num_classes = int(cfg.num_class_embeds) if cfg.num_class_embeds is not None else 0

    @property
    def sample_shape(self) -> tuple[int, int, int]:
        return (self.in_channels, *self.image_size)

    def forward(self, x: Tensor, t: Tensor, y: Tensor | None = None) -> Tensor:
        if x.ndim != 4 or x.shape[1] != self.in_channels:
            raise ValueError(f"DiffusersEpsNet: expected x of shape (B, {self.in_channels}, H, W), "
                             f"received {tuple(x.shape)}")
        if t.shape != (x.shape[0],):
            raise ValueError(f"DiffusersEpsNet: expected t of shape ({x.shape[0]},), received {tuple(t.shape)}")
        if self.num_classes and y is None:
            raise ValueError(f"this UNet is class-conditional ({self.num_classes} classes): pass labels y (B,)")
        out = self.unet(x, t, class_labels=y, return_dict=False)[0]
        return out[:, : self.in_channels] if self.out_channels != self.in_channels else out


# -- scheduler config <-> DiscreteSchedule -----------------------------------------------------------
def _linear(cfg: Mapping[str, Any]) -> DiscreteSchedule:
    return LinearBetaSchedule(int(cfg["num_train_timesteps"]), float(cfg["beta_start"]), float(cfg["beta_end"]))


def _scaled_linear(cfg: Mapping[str, Any]) -> DiscreteSchedule:
    n, b0, b1 = int(cfg["num_train_timesteps"]), float(cfg["beta_start"]), float(cfg["beta_end"])
    return DiscreteSchedule(torch.linspace(math.sqrt(b0), math.sqrt(b1), n, dtype=torch.float64) ** 2)


def _cosine(cfg: Mapping[str, Any]) -> DiscreteSchedule:
    return CosineSchedule(int(cfg["num_train_timesteps"]))


def _sigmoid(cfg: Mapping[str, Any]) -> DiscreteSchedule:
    n, b0, b1 = int(cfg["num_train_timesteps"]), float(cfg["beta_start"]), float(cfg["beta_end"])
    return DiscreteSchedule(torch.sigmoid(torch.linspace(-6, 6, n, dtype=torch.float64)) * (b1 - b0) + b0)


#: diffusers ``beta_schedule`` name -> our schedule (computed in float64).
BETA_SCHEDULES: dict[str, Callable[[Mapping[str, Any]], DiscreteSchedule]] = {
    "linear": _linear,
    "scaled_linear": _scaled_linear,
    "squaredcos_cap_v2": _cosine,
    "sigmoid": _sigmoid,
}


def schedule_from_scheduler_config(cfg: Mapping[str, Any]) -> DiscreteSchedule:
    """The base schedule of a diffusers scheduler config (DDPM/DDIM/PNDM/... ``scheduler_config.json``).

    ``trained_betas`` wins when present; otherwise ``beta_schedule`` is looked up in
    :data:`BETA_SCHEDULES`. Only epsilon-prediction models are accepted.
    """
    pred = cfg.get("prediction_type", "epsilon")
    if pred != "epsilon":
        raise ValueError(f"scheduler config has prediction_type={pred!r}; only 'epsilon' models can be loaded")
    if cfg.get("rescale_betas_zero_snr"):
        raise ValueError("scheduler config has rescale_betas_zero_snr=true (alpha_bar reaches 0); not supported")
    if cfg.get("trained_betas") is not None:
        return DiscreteSchedule(torch.as_tensor(cfg["trained_betas"], dtype=torch.float64))
    name = cfg.get("beta_schedule", "linear")
    if name not in BETA_SCHEDULES:
        raise ValueError(f"scheduler config has beta_schedule={name!r}; known: {sorted(BETA_SCHEDULES)}")
    for key in ("num_train_timesteps", "beta_start", "beta_end"):
        if key not in cfg:
            raise ValueError(f"scheduler config is missing {key!r}")
    return BETA_SCHEDULES[name](cfg)


def scheduler_config_from_schedule(schedule: DiscreteSchedule) -> dict[str, Any]:
    """A ``DDPMScheduler`` config that reproduces ``schedule`` (its betas, listed explicitly)."""
    return {"_class_name": "DDPMScheduler", "num_train_timesteps": schedule.num_steps,
            "beta_schedule": "linear", "beta_start": float(schedule.betas[0]), "beta_end": float(schedule.betas[-1]),
            "trained_betas": [float(b) for b in schedule.betas], "prediction_type": "epsilon",
            "variance_type": "fixed_small", "clip_sample": False}


def read_json(path: Path) -> dict[str, Any]:
    data = read_json_file(path, "JSON config")
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a JSON object, got {type(data).__name__}")
    return data


# -- folders -----------------------------------------------------------------------------------------
def find_diffusers_files(path: str | Path) -> tuple[Path, Path | None]:
    """(UNet folder, scheduler config file or None) of a pipeline or UNet folder."""
    root = Path(path)
    if not root.is_dir():
        raise FileNotFoundError(f"diffusers model folder not found: {root}")
    if (root / "model_index.json").is_file() or (root / "unet").is_dir():
        unet_dir = root / "unet"
        if not (unet_dir / "config.json").is_file():
            raise FileNotFoundError(f"{root} looks like a pipeline folder but has no unet/config.json")
    elif (root / "config.json").is_file():
        unet_dir = root
    else:
        raise FileNotFoundError(f"{root} holds neither a pipeline (model_index.json, unet/) nor a UNet (config.json)")
    cls = read_json(unet_dir / "config.json").get("_class_name")
    if cls != UNET_CLASS:
        raise ValueError(f"{unet_dir / 'config.json'} describes a {cls!r}; expected a {UNET_CLASS}")
    for cand in (unet_dir / "scheduler_config.json", unet_dir.parent / "scheduler" / "scheduler_config.json",
                 root / "scheduler" / "scheduler_config.json"):
        if cand.is_file():
            return unet_dir, cand
    return unet_dir, None


def load_diffusers_unet(unet_dir: str | Path, device: str | torch.device = "cpu") -> nn.Module:
    """``UNet2DModel.from_pretrained`` of a local folder (never downloads), in eval mode, float32."""
    diffusers = import_diffusers()
    unet = diffusers.UNet2DModel.from_pretrained(str(unet_dir), local_files_only=True, low_cpu_mem_usage=False,
                                                 torch_dtype=torch.float32)
    return unet.to(device).eval()


def load_diffusers_eps_model(path: str | Path, scheduler: str | Path | DiscreteSchedule | None = None,
                             device: str | torch.device = "cpu") -> EpsilonModel:
    """A local diffusers UNet (+ scheduler config) as an :class:`EpsilonModel`.

    Args:
        path: a pipeline folder or a UNet folder (see the module docstring).
        scheduler: overrides the scheduler config found beside the UNet: a ``scheduler_config.json``
            path (or its folder), or a ready :class:`DiscreteSchedule`.
        device: where the model is placed.

    The model's sample shape is ``(in_channels, sample_size, sample_size)`` from the UNet config.
    """
    unet_dir, found = find_diffusers_files(path)
    if isinstance(scheduler, DiscreteSchedule):
        schedule = scheduler
    else:
        cfg_path = Path(scheduler) if scheduler is not None else found
        if cfg_path is not None and cfg_path.is_dir():
            cfg_path = cfg_path / "scheduler_config.json"
        if cfg_path is None:
            raise FileNotFoundError(f"no scheduler_config.json next to {unet_dir} (nor in ../scheduler/); "
                                    "pass scheduler= a config path or a DiscreteSchedule")
        if not cfg_path.is_file():
            raise FileNotFoundError(f"scheduler config not found: {cfg_path}")
        schedule = schedule_from_scheduler_config(read_json(cfg_path))
    net = DiffusersEpsNet(load_diffusers_unet(unet_dir, device))
    return EpsilonModel(net, schedule, net.sample_shape).to(device)


def save_diffusers_eps_model(model: EpsilonModel | DiffusersEpsNet, folder: str | Path,
                             schedule: DiscreteSchedule | None = None) -> Path:
    """Write a (fine-tuned) diffusers epsilon-network back as a pipeline-style folder:
    ``unet/`` (``save_pretrained``) and ``scheduler/scheduler_config.json`` (explicit betas)."""
    net = model.eps_net if isinstance(model, EpsilonModel) else model
    if not isinstance(net, DiffusersEpsNet):
        raise TypeError(f"expected a DiffusersEpsNet (or an EpsilonModel around one), got {type(net).__name__}")
    sched = schedule or (model.schedule if isinstance(model, EpsilonModel) else None)
    if sched is None:
        raise ValueError("pass the schedule to save with a bare DiffusersEpsNet")
    folder = Path(folder)
    net.unet.save_pretrained(str(folder / "unet"))  # type: ignore[operator]
    (folder / "scheduler").mkdir(parents=True, exist_ok=True)
    with (folder / "scheduler" / "scheduler_config.json").open("w", encoding="utf-8") as f:
        json.dump(scheduler_config_from_schedule(sched), f, indent=2)
    return folder
