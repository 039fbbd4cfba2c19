"""The run folder and the process: the device, the resume check against ``OUT/config.yaml``, the
saved configuration, one rank's share of a distributed run, seeded generators."""

from __future__ import annotations

import copy
from pathlib import Path

import torch

from dxmi.config import ConfigError, RunConfig, load_config, to_dict
from dxmi.io import FileFormatError, settings_yaml
from dxmi.settings import changed_settings
from dxmi.training.checkpoint import write_text_atomic
from dxmi.training.devices import resolve_device
from dxmi.training.distributed import Distributed


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
