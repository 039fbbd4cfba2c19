"""``dxmi export``: a run's sampler as a folder that diffusers loads.

    DIR/model_index.json              {"_class_name": ["pipeline", "DxMIPipeline"], unet, scheduler}
    DIR/pipeline.py                   DxMIPipeline (the sampling loop)
    DIR/unet/                         the epsilon-network: config.json, diffusion_pytorch_model.safetensors
                                      and dxmi_unet.py (DxMIUNet: the network's definition), or a
                                      diffusers UNet2DModel (a run on pretrain.diffusers_path)
    DIR/scheduler/                    scheduler_config.json (the T timesteps, mean coefficients and learned
                                      per-step sigmas) and dxmi_scheduler.py (DxMIScheduler)
    DIR/README.md                     what was exported and how to sample it

The folder is self-contained: its code needs torch and diffusers, not dxmi (the UNet's definition is
written into ``unet/dxmi_unet.py`` from :mod:`dxmi.nets.unet` at export time, and checked against
the run's network on a probe input). Loading it runs that code, hence diffusers'
``trust_remote_code=True``::

    pipe = DiffusionPipeline.from_pretrained(DIR, trust_remote_code=True)
    x = pipe(batch_size=n, generator=torch.Generator().manual_seed(seed + 100), output_type="pt").images

draws the samples that ``dxmi sample --out RUN --n n`` writes (the CLI samples with the run's seed
+ 100), to float rounding. Exported samplers: ``dxmi`` (the trained sampler: its sampling policy),
``base`` (the untrained T-step policy), ``ddpm`` (the base model's full ancestral chain), ``ddim``
(the package's DDIM on ``steps`` evenly spaced indices); image runs on a DDPM base model only.
"""

from __future__ import annotations

import copy
import importlib.util
import inspect
import json
import re
import shutil
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import torch
from torch import Tensor, nn

from dxmi.config import ConfigError, RunConfig
from dxmi.diffusion.diffusers import DiffusersEpsNet, import_diffusers
from dxmi.nets import mlp as mlp_module
from dxmi.nets import unet as unet_module
from dxmi.policies.ddpm import DDPMSubsequencePolicy

__all__ = ["EXPORT_SAMPLERS", "ExportedSampler", "export_diffusers", "exported_sampler", "unet_module_source"]

HUB = Path(__file__).parent / "hub"
#: samplers ``dxmi export --sampler`` writes
EXPORT_SAMPLERS = ("dxmi", "base", "ddpm", "ddim")
#: the line of ``hub/dxmi_unet.py`` that the network's source replaces in the exported copy
UNET_MARKER = "from dxmi.nets.unet import UNet  # DXMI-EXPORT: the network's source replaces this line"
#: what the network's source uses, in the order it is written
NETWORK_IMPORTS = ("import math", "from collections.abc import Sequence", "", "import torch.nn.functional as F",
                   "from torch import Tensor, nn")
#: seed offset of ``dxmi sample`` (the CLI draws with the run's seed + 100)
SAMPLE_SEED_OFFSET = 100


def unet_module_source() -> str:
    """The text of the exported ``unet/dxmi_unet.py``: the wrapper of ``hub/dxmi_unet.py`` with the
    definition of :class:`dxmi.nets.unet.UNet` (and what it uses) in place of its import."""
    template = (HUB / "dxmi_unet.py").read_text(encoding="utf-8")
    if template.count(UNET_MARKER) != 1:
        raise RuntimeError(f"{HUB / 'dxmi_unet.py'} must hold the line {UNET_MARKER!r} once")
    parts = [inspect.getsource(obj) for obj in (mlp_module.SinusoidalEmbedding, unet_module._groups,
                                                 unet_module._zero, unet_module.ResBlock,
                                                 unet_module.AttentionBlock, unet_module.UNet)]
    block = "\n".join(NETWORK_IMPORTS) + "\n\n\n" + "\n\n".join(p.rstrip() + "\n" for p in parts)
    header = "# the network (copied from dxmi.nets.unet and dxmi.nets.mlp by dxmi export)\n"
    text = template.replace(UNET_MARKER, header + block.rstrip())
    if re.search(r"^\s*(from|import)\s+dxmi\b", text, flags=re.MULTILINE):
        raise RuntimeError("the exported network's source still imports dxmi")
    return text


@dataclass
class ExportedSampler:
    """What an export writes: the epsilon-network, the scheduler config (:class:`DxMIScheduler`'s
    arguments) and the UNet's constructor arguments (our UNet) or None (a diffusers UNet2DModel)."""

    eps_net: nn.Module
    scheduler: dict[str, Any]
    unet_config: dict[str, Any] | None
    description: str
    num_classes: int = 0
    sample_shape: tuple[int, ...] = field(default_factory=tuple)


def _floats(x: Tensor) -> list[float]:
    return [float(v) for v in x.detach().float().cpu()]


def _unet_config(cfg: RunConfig, shape: tuple[int, ...]) -> dict[str, Any]:
    """The arguments ``dxmi.experiment`` builds the base model's UNet with (DDPM: time scale 1)."""
    n = cfg.pretrain.net
    return {"in_channels": shape[0], "channels": n.channels, "channel_mult": list(n.channel_mult),
            "num_res_blocks": n.num_res_blocks, "attention_resolutions": list(n.attention_resolutions),
            "sample_size": shape[1], "out_channels": None, "dropout": n.dropout, "num_classes": n.num_classes,
            "heads": 1, "groups": n.groups, "time_scale": 1.0}


def _network(net: nn.Module, cfg: RunConfig, shape: tuple[int, ...]) -> tuple[nn.Module, dict[str, Any] | None]:
    if isinstance(net, DiffusersEpsNet):
        return net, None
    if isinstance(net, unet_module.UNet):
        return net, _unet_config(cfg, shape)
    raise ConfigError(f"dxmi export writes image samplers (a UNet epsilon-network); this run's network is a "
                      f"{type(net).__name__} (pretrain.net.kind={cfg.pretrain.net.kind})")


def _check_request(which: str, steps: int | None) -> None:
    if which not in EXPORT_SAMPLERS:
        raise ConfigError(f"--sampler must be one of {EXPORT_SAMPLERS} for an export, got {which!r}")
    if steps is not None and which != "ddim":
        raise ConfigError(f"--steps applies to the ddim export, not to {which!r} (its steps are the run's)")


def exported_sampler(cfg: RunConfig, which: str = "dxmi", steps: int | None = None) -> ExportedSampler:
    """The network and step tables of the sampler ``which`` of the run ``cfg`` (see the module docstring)."""
    from dxmi.diffusion import EpsilonModel
    from dxmi.experiment import build_dataset, build_policy, data_shape, load_pretrained, load_trained

    _check_request(which, steps)
    dataset = build_dataset(cfg)
    shape = tuple(data_shape(dataset))
    if len(shape) != 3:
        raise ConfigError(f"dxmi export writes image samplers; {cfg.data.name} has samples of shape {shape}")
    t_ = cfg.sampler.num_steps
    if which in ("dxmi", "base"):
        if which == "dxmi":
            if cfg.eval.guidance_scale != 0.0:
                raise ConfigError(f"eval.guidance_scale={cfg.eval.guidance_scale}: value guidance needs the run's "
                                  "value network, which an export does not carry; export with "
                                  "--set eval.guidance_scale=0 (and compare with dxmi sample likewise)")
            policy = load_trained(cfg, dataset).sampling_policy
            what = f"the trained {cfg.train.update} sampler, T = {t_}"
        else:
            policy = build_policy(cfg, load_pretrained(cfg, shape))
            what = f"the untrained T-step policy, T = {t_}"
        if not isinstance(policy, DDPMSubsequencePolicy):
            raise ConfigError(f"dxmi export writes samplers of DDPM base models; this run's policy is a "
                              f"{type(policy).__name__} (pretrain.model={cfg.pretrain.model})")
        net, ucfg = _network(policy.eps_net, cfg, shape)
        sched = {"mode": "policy", "timesteps": _floats(policy.timesteps), "coef_scale": _floats(policy.coef_scale),
                 "coef_eps": _floats(policy.coef_eps), "sigmas": _floats(policy.log_sigma.detach().exp()),
                 "init_noise_sigma": float(policy.init_scale),
                 "num_train_timesteps": cfg.pretrain.num_diffusion_steps}
        classes = policy.num_classes
    else:
        model = load_pretrained(cfg, shape)
        if not isinstance(model, EpsilonModel):
            raise ConfigError(f"the {which} export is for DDPM base models; this run's base model is a "
                              f"{type(model).__name__} (pretrain.model={cfg.pretrain.model})")
        net, ucfg = _network(model.eps_net, cfg, shape)
        n_train = model.schedule.num_steps
        if which == "ddpm":
            indices = list(range(n_train - 1, -1, -1))
            what = f"the base model's ancestral DDPM chain, {n_train} steps"
        else:
            try:
                indices = model.ddim_indices(steps or t_)
            except ValueError as e:
                raise ConfigError(str(e)) from None
            what = f"DDIM on the base model, {len(indices)} steps"
        sched = {"mode": which if which == "ddim" else "ancestral", "timesteps": [float(k) for k in indices],
                 "betas": _floats(model.betas), "alphas_cumprod": _floats(model.alpha_bar),
                 "init_noise_sigma": 1.0, "num_train_timesteps": n_train}
        classes = model.num_classes
    sched["source"] = f"dxmi export --sampler {which}: {what} ({cfg.data.name}, run {cfg.out})"
    return ExportedSampler(eps_net=net, scheduler=sched, unet_config=ucfg, description=what,
                           num_classes=int(classes), sample_shape=shape)


@contextmanager
def _module_from_file(path: Path) -> Iterator[ModuleType]:
    """Import a module from a file under a unique name (kept in sys.modules while in use)."""
    name = f"_dxmi_export_{path.stem}_{uuid.uuid4().hex[:8]}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        sys.modules.pop(name, None)


def _probe_equal(original: nn.Module, exported: nn.Module, ex: ExportedSampler) -> None:
    """The exported network computes what the run's does (bit for bit) on a seeded probe."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn((2, *ex.sample_shape), generator=g)
    t = torch.tensor([float(ex.scheduler["timesteps"][0])] * 2)
    y = torch.arange(2) % ex.num_classes if ex.num_classes else None
    original = copy.deepcopy(original).cpu().eval()
    with torch.no_grad():
        want = original(x, t) if y is None else original(x, t, y)
        got = exported(x, t, class_labels=y, return_dict=False)[0]
    if got.shape != want.shape or not torch.equal(got, want):
        raise RuntimeError("the exported network does not reproduce the run's on a probe input "
                           f"(max difference {(got - want).abs().max():.3g}); the export is not written")


def _write_unet(ex: ExportedSampler, folder: Path) -> list[str]:
    """``folder/unet/``; returns the model_index entry."""
    unet_dir = folder / "unet"
    unet_dir.mkdir(parents=True)
    if ex.unet_config is None:
        assert isinstance(ex.eps_net, DiffusersEpsNet)
        copy.deepcopy(ex.eps_net.unet).cpu().save_pretrained(str(unet_dir))  # type: ignore[operator]
        return ["diffusers", "UNet2DModel"]
    source = unet_dir / "dxmi_unet.py"
    source.write_text(unet_module_source(), encoding="utf-8")
    with _module_from_file(source) as mod:
        wrapper = mod.DxMIUNet(**ex.unet_config).eval()
        state = {k: v.detach().cpu() for k, v in ex.eps_net.state_dict().items()}
        try:
            wrapper.net.load_state_dict(state, strict=True)
        except RuntimeError as e:
            raise RuntimeError(f"the run's network does not fit the exported UNet definition: {e}") from None
        _probe_equal(ex.eps_net, wrapper, ex)
        wrapper.save_pretrained(str(unet_dir), safe_serialization=True)
    return ["dxmi_unet", "DxMIUNet"]


def _write_scheduler(ex: ExportedSampler, folder: Path) -> list[str]:
    sched_dir = folder / "scheduler"
    sched_dir.mkdir(parents=True)
    shutil.copyfile(HUB / "dxmi_scheduler.py", sched_dir / "dxmi_scheduler.py")
    with _module_from_file(sched_dir / "dxmi_scheduler.py") as mod:
        mod.DxMIScheduler(**ex.scheduler).save_config(str(sched_dir))  # checks the tables
    return ["dxmi_scheduler", "DxMIScheduler"]


def _readme(cfg: RunConfig, ex: ExportedSampler, which: str, steps: int | None, folder: Path) -> str:
    seed = cfg.seed + SAMPLE_SEED_OFFSET
    sample_cmd = f"dxmi sample --out {cfg.out} --sampler {which}" + (f" --steps {steps}" if steps else "")
    labels = ("" if not ex.num_classes else
              f"\nThe model is class-conditional ({ex.num_classes} classes): by default the pipeline draws every "
              "class equally often (labels 0, 1, ..., K-1, 0, ...), as `dxmi sample` does; `class_labels=3` (one "
              "label for all, or one per image) draws given classes (`dxmi sample --label 3`).\n")
    return f"""# DxMI sampler: {ex.description}

Exported by `dxmi export` from the run folder `{cfg.out}` (data: {cfg.data.name}; samples of shape
{tuple(ex.sample_shape)}, data range [-1, 1]). The code in this folder (`pipeline.py`,
`unet/dxmi_unet.py`, `scheduler/dxmi_scheduler.py`) needs torch and diffusers only; loading it
runs that code, hence `trust_remote_code=True`.

```python
import torch
from diffusers import DiffusionPipeline

pipe = DiffusionPipeline.from_pretrained("{folder}", trust_remote_code=True)
x = pipe(batch_size=16, generator=torch.Generator().manual_seed({seed}), output_type="pt").images
```

`x` (16, C, H, W) holds the samples that `{sample_cmd} --n 16` writes: that command
draws with the run's seed + {SAMPLE_SEED_OFFSET} = {seed} (on the run's device; use a generator on that
device). `output_type="pil"` (the default) or `"np"` give images in [0, 1].
{labels}
Scheduler (`scheduler/scheduler_config.json`): mode `{ex.scheduler['mode']}`, {len(ex.scheduler['timesteps'])} network
evaluations at the listed timesteps.
"""


def export_diffusers(cfg: RunConfig, folder: str | Path, which: str = "dxmi", steps: int | None = None,
                     force: bool = False) -> Path:
    """Write the sampler ``which`` of the run ``cfg`` to ``folder`` (see the module docstring).

    An existing non-empty ``folder`` is refused, or replaced with ``force`` when it holds an earlier
    export (a ``model_index.json``); the folder is written beside it and moved in place at the end."""
    diffusers = import_diffusers()
    _check_request(which, steps)
    folder = Path(folder)
    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        if not force:
            raise ConfigError(f"{folder} exists and is not empty: choose a new --to, or --force to replace "
                                  "an earlier export")
        if not (folder / "model_index.json").is_file():
            raise ConfigError(f"{folder} holds no model_index.json: not an earlier export, not replaced")
    ex = exported_sampler(cfg, which, steps)
    tmp = folder.parent / f".{folder.name}.tmp-{uuid.uuid4().hex[:8]}"
    try:
        tmp.mkdir(parents=True)
        index = {"_class_name": ["pipeline", "DxMIPipeline"], "_diffusers_version": diffusers.__version__,
                 "unet": _write_unet(ex, tmp), "scheduler": _write_scheduler(ex, tmp)}
        shutil.copyfile(HUB / "pipeline.py", tmp / "pipeline.py")
        (tmp / "model_index.json").write_text(json.dumps(index, indent=2) + "\n", encoding="utf-8")
        (tmp / "README.md").write_text(_readme(cfg, ex, which, steps, folder), encoding="utf-8")
        if folder.exists():
            shutil.rmtree(folder)
        tmp.rename(folder)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return folder
