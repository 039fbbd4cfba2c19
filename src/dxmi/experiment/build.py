"""The parts of a run built from its :class:`RunConfig`: the base diffusion model, the T-step policy,
the energy, the value and the algorithm (registries keyed by the config's ``kind``)."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from dxmi.algorithms import SAMPLER_UPDATES, DxMI
from dxmi.config import ConfigError, NetConfig, RunConfig
from dxmi.diffusion import EpsilonModel
from dxmi.diffusion.edm import EDMDenoiser
from dxmi.energies import Energy, MLPEnergy
from dxmi.energies.conv import ConvEnergy, TimeConvNet
from dxmi.nets import FourierFeatures, TimeMLP
from dxmi.nets.unet import UNet
from dxmi.policies import DDPMSubsequencePolicy, GaussianPolicy
from dxmi.policies.edm import EDMPolicy
from dxmi.schedules import LinearBetaSchedule
from dxmi.schedules.karras import KarrasSchedule
from dxmi.values import SharedEnergyValue, TimeDependentValue, ValueFunction


def _time_mlp(n: NetConfig, shape: tuple[int, ...], out_dim: int) -> nn.Module:
    if len(shape) != 1:
        raise ConfigError(f"net.kind=mlp needs vector data, got sample shape {shape}; use kind=unet for images")
    return TimeMLP(shape[0], out_dim, hidden=n.hidden, depth=n.depth, time_dim=n.time_dim, activation=n.activation)


def _unet(n: NetConfig, shape: tuple[int, ...], out_dim: int, time_scale: float = 1.0) -> nn.Module:
    if len(shape) != 3 or shape[1] != shape[2]:
        raise ConfigError(f"net.kind=unet needs square images (C, H, H), got sample shape {shape}")
    return UNet(shape[0], channels=n.channels, channel_mult=n.channel_mult, num_res_blocks=n.num_res_blocks,
                attention_resolutions=n.attention_resolutions, image_size=shape[1], dropout=n.dropout,
                num_classes=n.num_classes, groups=n.groups, time_scale=time_scale)


# kind -> builder(net config, sample shape, time scale) of an epsilon / denoiser network
EPS_NETS: dict[str, Callable[[NetConfig, tuple[int, ...], float], nn.Module]] = {
    "mlp": lambda n, shape, ts: _time_mlp(n, shape, shape[0]),
    "unet": lambda n, shape, ts: _unet(n, shape, shape[0], ts),
}


def _mlp_energy(n: NetConfig, shape: tuple[int, ...]) -> Energy:
    if len(shape) != 1:
        raise ConfigError(f"energy_net.kind=mlp needs vector data, got sample shape {shape}; use kind=conv")
    if n.num_classes:
        raise ConfigError("sampler.energy_net.kind=mlp is unconditional: set sampler.energy_net.num_classes=0 "
                          "(class-conditional energies: kind=conv)")
    return MLPEnergy(shape[0], hidden=n.hidden, depth=n.depth, activation=n.activation,
                     fourier_features=n.fourier_features, fourier_scale=n.fourier_scale)


def _conv_energy(n: NetConfig, shape: tuple[int, ...]) -> Energy:
    if len(shape) != 3:
        raise ConfigError(f"energy_net.kind=conv needs images (C, H, W), got sample shape {shape}")
    return ConvEnergy(shape, channels=n.channels, channel_mult=n.channel_mult, blocks=n.num_res_blocks,
                      activation=n.activation, init_scale=n.energy_scale, num_classes=n.num_classes)


ENERGIES: dict[str, Callable[[NetConfig, tuple[int, ...]], Energy]] = {"mlp": _mlp_energy, "conv": _conv_energy}


def _lookup(registry: dict[str, Any], kind: str, key: str) -> Any:
    if kind not in registry:
        raise ConfigError(f"{key} must be one of {sorted(registry)}, got {kind!r}")
    return registry[kind]


def _ddpm_model(cfg: RunConfig, shape: tuple[int, ...]) -> nn.Module:
    p = cfg.pretrain
    net = _lookup(EPS_NETS, p.net.kind, "pretrain.net.kind")(p.net, shape, 1.0)
    sched = LinearBetaSchedule(p.num_diffusion_steps, p.beta_start, p.beta_end)
    return EpsilonModel(net, sched, shape)


def _edm_model(cfg: RunConfig, shape: tuple[int, ...]) -> nn.Module:
    p = cfg.pretrain
    # c_noise = noise_scale * log(sigma) spans about [-1.5, 1.1] for noise_scale 0.25: spread the embedding
    net = _lookup(EPS_NETS, p.net.kind, "pretrain.net.kind")(p.net, shape, 250.0 / max(p.noise_scale, 1e-12))
    return EDMDenoiser(net, shape, noise_scale=p.noise_scale)


BASE_MODELS: dict[str, Callable[[RunConfig, tuple[int, ...]], nn.Module]] = {"ddpm": _ddpm_model, "edm": _edm_model}


def build_base_model(cfg: RunConfig, shape: tuple[int, ...]) -> nn.Module:
    """The base diffusion model (``pretrain.model``): EpsilonModel (ddpm) or EDMDenoiser (edm)."""
    return _lookup(BASE_MODELS, cfg.pretrain.model, "pretrain.model")(cfg, shape)  # type: ignore[no-any-return]


def build_eps_model(cfg: RunConfig, dim: int) -> EpsilonModel:
    """The DDPM base model for vector data of dimension ``dim`` (kept for callers of the 2D API)."""
    return _ddpm_model(cfg, (dim,))  # type: ignore[return-value]


def build_policy(cfg: RunConfig, model: nn.Module) -> GaussianPolicy:
    """The T-step policy from a base model (a deep copy of its network is fine-tuned)."""
    s = cfg.sampler
    if isinstance(model, EDMDenoiser):
        sched = (KarrasSchedule.build(s.num_steps, rho=s.rho, stochastic_last=s.stochastic_last) if s.rho > 0
                 else KarrasSchedule.release(s.num_steps))
        # requires_grad_: the base model may be a frozen EMA copy; its fine-tuned copy trains
        return EDMPolicy(copy.deepcopy(model).requires_grad_(True), sched, fix_last=s.fix_last,
                         last_sigma=s.last_sigma)
    if not isinstance(model, EpsilonModel):
        raise ConfigError(f"no T-step policy for a base model of type {type(model).__name__}")
    try:
        return DDPMSubsequencePolicy.from_model(model, s.num_steps, s.subsequence, last_sigma=s.last_sigma,
                                                fix_last=s.fix_last, ddim_eta=s.ddim_eta)
    except ValueError as e:
        raise ConfigError(f"sampler: {e}") from None


def build_energy(cfg: RunConfig, shape: tuple[int, ...] | int) -> Energy:
    n = cfg.sampler.energy_net
    shape = (shape,) if isinstance(shape, int) else tuple(shape)
    return _lookup(ENERGIES, n.kind, "sampler.energy_net.kind")(n, shape)  # type: ignore[no-any-return]


def build_value(cfg: RunConfig, shape: tuple[int, ...] | int, energy: Energy) -> ValueFunction:
    s = cfg.sampler
    shape = (shape,) if isinstance(shape, int) else tuple(shape)
    if s.value == "time_dependent":
        n = s.value_net
        if len(shape) == 3:  # images: the conv encoder with a step embedding
            net: nn.Module = TimeConvNet(shape, channels=n.channels, channel_mult=n.channel_mult,
                                         blocks=n.num_res_blocks, activation=n.activation, time_dim=n.time_dim,
                                         init_scale=n.energy_scale)
        else:
            feats = FourierFeatures(shape[0], n.fourier_features, n.fourier_scale, seed=cfg.seed + 11) \
                if n.fourier_features > 0 else None
            net = TimeMLP(shape[0], 1, hidden=n.hidden, depth=n.depth, time_dim=n.time_dim,
                          activation=n.activation, features=feats)
        return TimeDependentValue(net, shape, s.num_steps)
    if s.value == "shared":
        return SharedEnergyValue(energy, s.num_steps)
    raise ConfigError(f"sampler.value must be 'time_dependent' or 'shared', got {s.value!r}")


def build_algorithm(cfg: RunConfig, model: nn.Module, generator: torch.Generator) -> DxMI:
    if cfg.train.update not in SAMPLER_UPDATES:
        raise ConfigError(f"train.update must be one of {sorted(SAMPLER_UPDATES)}, got {cfg.train.update!r}")
    shape = tuple(model.sample_shape)  # type: ignore[arg-type]
    torch.manual_seed(cfg.seed + 7)  # network initialisation is part of the seeded run
    policy = build_policy(cfg, model)
    energy = build_energy(cfg, shape)
    value = build_value(cfg, shape, energy)
    device = torch.device(cfg.device)
    for m in (policy, energy, value):
        m.to(device)
    return SAMPLER_UPDATES[cfg.train.update](policy, value, energy, cfg.train.algo, generator=generator)
