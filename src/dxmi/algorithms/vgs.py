"""VGS training: TD learning of the value whose gradient is the sampler's drift.

One :meth:`VGS.update` is one iteration of the paper's algorithm:

1. roll out ``B`` trajectories, off-policy with the noise scaled by ``explore_noise`` (1.1-1.2), into
   the trajectory buffer (:class:`~dxmi.buffers.TrajectoryBuffer`, the one DxMI rolls out into); its
   transitions ``(x_t, t)`` with the rollout's drifts ``mu_t`` are the training set;
2. ``n_update`` passes over the shuffled ``T B`` transitions in minibatches: resample
   ``x_{t+1} = alpha_t x_t + mu_t + sigma_t eps`` with fresh noise, target
   ``y = c_t + [E(x_{t+1}) if t + 1 = T else V_target(x_{t+1}, t + 1)]`` with the running cost
   ``c_t = tau (||mu_t||^2 / (2 s_t^2 alpha_t^2) - D log alpha_t)``, loss ``l(V(x_t, t) - y) / D``.
   With ``td_lambda`` set (our option, not the paper's) the targets are instead the TD(lambda) returns
   along the rollout's own on-policy trajectories, ``y_t = c_t + (1 - lambda) V_target(x_{t+1}, t + 1)
   + lambda y_{t+1}``, ``y_{T-1} = c_{T-1} + E(x_T)`` (:func:`~dxmi.values.lambda_returns`): the
   terminal energy reaches early times in one iteration instead of ~T / (1 - ema), and the energy
   budget is the same (``E(x_T)`` of the rollout replaces the resampled one).
   With ``replay_chains = M > 0`` (our option, after the local-search replay of Sendera et al. 2024
   for diffusion samplers) the value also learns off-policy: ``M`` persistent MALA chains on the
   target take ``replay_steps`` steps per iteration (adaptive step sizes), and the auxiliary chain
   run backwards from their states (:meth:`~dxmi.samplers.vgs.ValueGradientSampler.backward_path`)
   gives ``T M`` more transitions, trained with the one-step TD targets above (resampled once per
   iteration). Their cost: ``M replay_steps`` MALA evaluations, ``M`` gradients ``grad E`` for the
   drift at t = T - 1 and ``M`` energies for the targets there;
3. ``s_init`` step on ``E[V(x_0, 0)] - D tau log s_init`` (reparametrised ``x_0 = s_init z``; with
   ``s_init_per_dim``, ``- tau sum_d log s_init_d``);
4. ``V_target <- ema V_target + (1 - ema) V_online``.

The data batch of :class:`~dxmi.training.Trainer` is ignored (the target is known); give the
trainer :func:`no_data` (as :func:`dxmi.training.vgs.train_vgs` does). Energy evaluations (each ``E``
or ``grad E`` of one state counts one) are counted in ``n_energy_evals``.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

import torch
import yaml
from torch import Tensor, nn
from torch.nn import functional as F

from dxmi.algorithms.base import Algorithm, make_adam
from dxmi.baselines.mala import MALAChains
from dxmi.buffers.trajectory import TrajectoryBuffer
from dxmi.nets.ema import ema_update
from dxmi.records import Batch, Metrics
from dxmi.samplers.vgs import ENERGY_CLIP_KINDS, ValueGradientSampler, VGSRollout, VGSValue
from dxmi.schedules.vgs import S2_SCHEDULES, VGSSchedule
from dxmi.settings import ConfigError, from_dict, merge, parse_override
from dxmi.targets.base import Target
from dxmi.validation import check_ranges
from dxmi.values import lambda_returns

TD_LOSSES: dict[str, Callable[[Tensor, Tensor], Tensor]] = {
    "l2": lambda a, b: F.mse_loss(a, b),
    "l1": lambda a, b: F.l1_loss(a, b),
    "smooth_l1": lambda a, b: F.smooth_l1_loss(a, b),
}


@dataclass
class ValueNetConfig:
    hidden: int = 128
    depth: int = 3
    time_dim: int = 64
    features: str = "identity"  # identity | distances | egnn (particles; depth = message-passing layers)
    scale_with_d: bool = False
    dedup_times: bool = False  # speed option: each distinct time of a minibatch embedded once (TimeMLP)

    def __post_init__(self) -> None:
        check_ranges(self, at_least_one=("hidden", "depth", "time_dim"))
        if self.time_dim % 2:
            raise ValueError(f"time_dim must be even (the sinusoidal time embedding), got {self.time_dim}")


@dataclass
class VGSConfig:
    """Every option of the method (see ``docs/vgs.md``); ``--set key=value`` overrides any."""

    num_steps: int = 20
    schedule: str = "quad"
    s2_start: float = 0.2
    s2_end: float = 0.1
    variant: str = "vp"
    tau: float = 1.0
    ema: float = 0.9
    batch_size: int = 128
    iterations: int = 3000
    n_update: int = 1
    td_batch: int = 0  # minibatch of transitions; 0 means batch_size
    value_lr: float = 1e-4
    s_init_lr: float = 1e-3
    s_init: float = 1.0
    learn_s_init: bool = True
    s_init_per_dim: bool = False  # one initial scale per coordinate (not for particle systems)
    explore_noise: float = 1.2
    sample_noise: float = 1.0
    sample_value: str = "online"  # online | ema: which value drives the drift when sampling after training
    energy_clip: float | None = None
    energy_clip_kind: str = "hard"  # hard (clamp, the release) | log (c + log(1 + E - c) above c)
    drift_clip: float | None = None
    max_grad_norm: float | None = 1.0
    td_loss: str = "l2"
    td_lambda: float | None = None  # None: one-step TD with resampled x_{t+1} (paper); else TD(lambda) returns
    replay_chains: int = 0  # M persistent MALA chains whose backward paths add off-policy transitions; 0: off
    replay_steps: int = 1  # MALA steps of the replay chains per iteration
    fused_adam: bool = False  # speed option: Adam's fused kernel (its rounding differs in the last bits)
    net: ValueNetConfig = field(default_factory=ValueNetConfig)
    seed: int = 0
    device: str = "cpu"

    def __post_init__(self) -> None:
        check_ranges(self, at_least_one=("num_steps", "batch_size", "n_update"),
                     non_negative=("iterations", "td_batch", "sample_noise"),
                     positive=("tau", "s_init", "explore_noise", "energy_clip", "drift_clip", "s2_start", "s2_end"))
        if self.schedule not in S2_SCHEDULES:
            raise ValueError(f"schedule must be one of {sorted(S2_SCHEDULES)}, got {self.schedule!r}")
        if self.variant not in ("vp", "ve"):
            raise ValueError(f"variant must be 'vp' or 've', got {self.variant!r}")
        if self.variant == "vp" and max(self.s2_start, self.s2_end) >= 1:
            raise ValueError(f"s2_start and s2_end must be < 1 with variant vp, got {self.s2_start}, {self.s2_end}")
        if self.td_loss not in TD_LOSSES:
            raise ValueError(f"td_loss must be one of {sorted(TD_LOSSES)}, got {self.td_loss!r}")
        if self.energy_clip_kind not in ENERGY_CLIP_KINDS:
            raise ValueError(f"energy_clip_kind must be one of {ENERGY_CLIP_KINDS}, got {self.energy_clip_kind!r}")
        if self.sample_value not in ("online", "ema"):
            raise ValueError(f"sample_value must be 'online' or 'ema', got {self.sample_value!r}")
        if not 0 <= self.ema < 1:
            raise ValueError(f"ema must be in [0, 1), got {self.ema}")
        if self.explore_noise <= 0 or self.n_update < 1 or self.batch_size < 1:
            raise ValueError("explore_noise > 0, n_update >= 1 and batch_size >= 1 are required")
        if self.replay_chains < 0 or self.replay_steps < 1:
            raise ValueError(f"replay_chains >= 0 and replay_steps >= 1 are required, got {self.replay_chains}, "
                             f"{self.replay_steps}")
        if self.td_lambda is not None:
            if not 0 <= self.td_lambda <= 1:
                raise ValueError(f"td_lambda must be in [0, 1] (or null for one-step TD), got {self.td_lambda}")
            if self.explore_noise != 1.0:
                raise ValueError(f"td_lambda uses the rollouts' own paths, which must be on-policy: set "
                                 f"explore_noise=1.0 (got {self.explore_noise})")


#: The folder of the VGS presets, ``<target>.yaml`` and ``default.yaml`` (:func:`preset_names`).
PRESET_PACKAGE = "dxmi.configs"
PRESET_FOLDER = "vgs"
#: The preset of the targets that have none of their own.
DEFAULT_PRESET_NAME = "default"


def preset_names() -> list[str]:
    """The VGS presets shipped in ``dxmi/configs/vgs/``: one per target (the release settings of the spec
    for ``gmm`` and ``funnel``, our choices for ``dw4`` / ``lj13``) and ``default`` for every other target."""
    folder = resources.files(PRESET_PACKAGE) / PRESET_FOLDER
    return sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".yaml"))


def read_preset(name: str) -> dict[str, Any]:
    """The settings of the VGS preset ``name`` (a fresh dict; :class:`ConfigError` if there is none)."""
    if name not in preset_names():
        raise ConfigError(f"unknown VGS preset {name!r}; presets: {preset_names()}")
    res = resources.files(PRESET_PACKAGE) / PRESET_FOLDER / f"{name}.yaml"
    data = yaml.safe_load(res.read_text()) or {}
    if not isinstance(data, dict):
        raise ConfigError(f"VGS preset {name!r} must be a mapping at the top level")
    return data


def make_config(target: str, overrides: list[str] | None = None, base: dict[str, Any] | None = None) -> VGSConfig:
    """The preset of ``target`` (``dxmi/configs/vgs/<target>.yaml``, or ``default.yaml`` for other targets),
    or ``base`` when given, then ``key=value`` overrides."""
    if base is not None:
        data = copy.deepcopy(base)
    else:
        data = read_preset(target if target in preset_names() else DEFAULT_PRESET_NAME)
    for text in overrides or []:
        data = merge(data, parse_override(text))
    try:
        return from_dict(VGSConfig, data)
    except ValueError as e:  # includes ConfigError
        raise ConfigError(str(e)) from None


def build_sampler(target: Target, cfg: VGSConfig) -> ValueGradientSampler:
    """The :class:`ValueGradientSampler` of ``cfg`` on ``target`` (untrained; initialised from ``cfg.seed``)."""
    net = cfg.net
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(cfg.seed)
        value = _value(target, cfg, net)
    sched = VGSSchedule(cfg.num_steps, cfg.s2_start, cfg.s2_end, cfg.schedule, cfg.variant)
    return ValueGradientSampler(value, target, sched, tau=cfg.tau, s_init=cfg.s_init, drift_clip=cfg.drift_clip,
                                energy_clip=cfg.energy_clip, s_init_per_dim=cfg.s_init_per_dim,
                                energy_clip_kind=cfg.energy_clip_kind).to(cfg.device)


def _value(target: Target, cfg: VGSConfig, net: ValueNetConfig) -> VGSValue:
    return VGSValue(target.dim, cfg.num_steps, hidden=net.hidden, depth=net.depth, time_dim=net.time_dim,
                    features=net.features, particles=target.particles, scale_with_d=net.scale_with_d,
                    d_scale=target.effective_dim, dedup_times=net.dedup_times)


class ParamHolder(nn.Module):
    """One parameter as a module, so that it is checkpointed with the algorithm's modules;
    ``forward()`` returns it (what a distributed run wraps, to average its gradient over ranks)."""

    def __init__(self, p: nn.Parameter):
        super().__init__()
        self.p = p

    def forward(self) -> Tensor:
        return self.p


def no_data(n: int, generator: torch.Generator) -> Tensor:
    """A dummy data source for the :class:`Trainer` (VGS needs no data): ``(1,)`` zeros."""
    return torch.zeros(1)


class VGS(Algorithm):
    """Value Gradient Sampler training on a known target. ``update(batch)`` ignores ``batch``.

    Under torchrun every rank rolls out its own ``batch_size`` trajectories (its own generator);
    the value and ``s_init`` gradients are averaged over ranks through :meth:`trained`.
    """

    supports_distributed = True

    def __init__(self, target: Target, cfg: VGSConfig, sampler: ValueGradientSampler | None = None,
                 generator: torch.Generator | None = None):
        self.cfg = cfg
        self.target = target
        self.sampler = sampler if sampler is not None else build_sampler(target, cfg)
        self.value_target = copy.deepcopy(self.sampler.value).requires_grad_(False)
        self.generator = generator or torch.Generator(device=cfg.device).manual_seed(cfg.seed)
        self.modules = {"value": self.sampler.value, "value_target": self.value_target,
                        "s_init": ParamHolder(self.sampler.log_s_init)}
        self.optimizers = {"value": make_adam(self.sampler.value.parameters(), cfg.value_lr, cfg.fused_adam),
                           "s_init": make_adam([self.sampler.log_s_init], cfg.s_init_lr, cfg.fused_adam)}
        dev, dtype = self.sampler.log_s_init.device, self.sampler.log_s_init.dtype
        self.buffer = TrajectoryBuffer(self.sampler.num_steps, cfg.batch_size, self.sampler.sample_shape,
                                       device=dev, dtype=dtype)
        self.n_energy_evals = 0
        self.iteration = 0
        self.replay: MALAChains | None = None  # created at the first update (replay_chains > 0)

    # -- checkpointed counters and replay chains
    def extra_state(self) -> dict[str, Any]:
        state: dict[str, Any] = {"n_energy_evals": self.n_energy_evals}
        if self.replay is not None:
            state["replay"] = self.replay.state_dict()
        return state

    def load_extra_state(self, state: dict[str, Any]) -> None:
        self.n_energy_evals = int(state.get("n_energy_evals", 0))
        if "replay" in state:
            self.replay = self._new_replay(state["replay"]["x"])
            self.replay.load_state_dict(state["replay"])

    def _new_replay(self, x0: Tensor) -> MALAChains:
        """Replay chains from ``x0``; the initial step size 0.05 (that of the MALA baselines) adapts per chain."""
        return MALAChains(self.target, x0.to(self.sampler.log_s_init.device), step_size=0.05)

    def _replay_transitions(self) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """Off-policy transitions ``(x (T M, D), t (T M,), mu (T M, D), y (T M,))`` from the backward
        paths of the replay chains, after ``replay_steps`` MALA steps (chains start at ``x_0``
        draws); ``y`` are one-step TD targets. Counts every energy evaluation it makes."""
        s, cfg = self.sampler, self.cfg
        if self.replay is None:
            with torch.no_grad():
                self.replay = self._new_replay(s.initial(cfg.replay_chains, self.generator))
            self.n_energy_evals += self.replay.n_energy_evals
        before = self.replay.n_energy_evals
        for _ in range(cfg.replay_steps):
            self.replay.step(self.generator)
        self.n_energy_evals += self.replay.n_energy_evals - before
        path = s.backward_path(self.replay.x, self.generator)
        T, M = s.num_steps, cfg.replay_chains
        x = path[:-1].reshape(T * M, s.dim)
        t = torch.arange(T, device=x.device).repeat_interleave(M)
        mu = torch.cat([s.drift(path[k], k) for k in range(T)])
        self.n_energy_evals += M  # grad E at t = T - 1
        with torch.no_grad():
            y, _ = self._td_targets(x, t, mu)
        return x, t, mu, y

    def _td_targets(self, x: Tensor, t: Tensor, mu: Tensor) -> tuple[Tensor, Tensor]:
        """``c_t + V_target(x_{t+1}, t + 1)`` (``E`` at t + 1 = T) with resampled ``x_{t+1}``: ``(N,)``;
        also the clipped energies ``E(x_T)`` of the last-step transitions among them (for logging)."""
        s = self.sampler
        eps = torch.randn(x.shape, generator=self.generator, device=x.device)
        nxt = s.step_given_drift(x, mu, t, eps)
        last = t == s.num_steps - 1
        y = torch.empty(x.shape[0], device=x.device)
        if bool(last.any()):
            y[last] = s.clipped_energy(nxt[last])
            self.n_energy_evals += int(last.sum())
        if bool((~last).any()):
            y[~last] = self.value_target(nxt[~last], t[~last] + 1)
        return y + s.running_cost(mu, t), y[last]

    @torch.no_grad()
    def _lambda_targets(self, roll: VGSRollout, t_all: Tensor, lam: float) -> tuple[Tensor, Tensor]:
        """TD(lambda) returns along the rollout's paths, ``(T B,)`` in the order of ``states[:-1]``
        (whose times are ``t_all``); also the clipped ``E(x_T)`` ``(B,)``."""
        s = self.sampler
        T, B = roll.drifts.shape[:2]
        costs = s.running_cost(roll.drifts.reshape(T * B, -1), t_all).reshape(T, B)
        # states[1:T] are x_1 .. x_{T-1}, at times t_all[B:] = 1 .. T-1
        nxt = self.value_target(roll.states[1:T].reshape((T - 1) * B, s.dim), t_all[B:]).reshape(T - 1, B)
        terminal = s.clip_energy(roll.energy)
        return lambda_returns(costs, nxt, terminal, lam).reshape(T * B), terminal

    def update(self, batch: Batch | None = None) -> Metrics:
        cfg, s = self.cfg, self.sampler
        T, B, D = s.num_steps, cfg.batch_size, s.eff_dim
        lam = cfg.td_lambda
        # One-step TD evaluates E at freshly resampled x_T, so the rollout skips E(x_T); TD(lambda)
        # uses the rollout's own E(x_T). Either way B energies and B last-step gradients per iteration.
        # rolled out straight into the buffer's storage (store then skips the copy)
        roll = s.rollout(B, self.generator, noise_scale=cfg.explore_noise, weights=lam is not None,
                         out=self.buffer.slots(B))
        self.buffer.store(roll)
        self.n_energy_evals += roll.n_energy_evals
        stored = self.buffer.transitions()  # the T B transitions, t = 0 first, as the drifts are laid out
        x_all, t_all = stored.x, stored.t
        mu_all = roll.drifts.reshape(T * B, -1)
        final_energies: list[Tensor] = []
        # y_all: precomputed targets; where `fresh`, one-step targets resampled per minibatch instead.
        if lam is not None:
            y_all, e_final = self._lambda_targets(roll, t_all, lam)
            final_energies.append(e_final)
            fresh = torch.zeros(T * B, dtype=torch.bool, device=x_all.device)
        else:
            y_all = torch.zeros(T * B, device=x_all.device)
            fresh = torch.ones(T * B, dtype=torch.bool, device=x_all.device)
        if cfg.replay_chains:
            x_r, t_r, mu_r, y_r = self._replay_transitions()
            x_all, t_all, mu_all = torch.cat([x_all, x_r]), torch.cat([t_all, t_r]), torch.cat([mu_all, mu_r])
            y_all, fresh = torch.cat([y_all, y_r]), torch.cat([fresh, torch.zeros_like(y_r, dtype=torch.bool)])
        mb = cfg.td_batch or B
        value = self.trained("value")
        losses: list[Tensor] = []
        for _ in range(cfg.n_update):
            perm = torch.randperm(len(y_all), generator=self.generator, device=x_all.device)
            for idx in perm.split(mb):
                x, t, mu, y, f = x_all[idx], t_all[idx], mu_all[idx], y_all[idx], fresh[idx]
                if bool(f.any()):
                    with torch.no_grad():
                        y_f, e_last = self._td_targets(x[f], t[f], mu[f])
                    y = y.clone()
                    y[f] = y_f
                    final_energies.append(e_last)
                loss = TD_LOSSES[cfg.td_loss](value(x, t), y) / D
                self.optimizer_step("value", loss, cfg.max_grad_norm)
                losses.append(loss.detach())
        s_loss = torch.zeros(())
        if cfg.learn_s_init:
            log_s = self.trained("s_init")()  # = s.log_s_init (its DDP wrapper's output under torchrun)
            x0 = s.initial(B + cfg.replay_chains, self.generator, log_s=log_s)  # one draw per path of the iteration
            s_loss = (s.cost_to_go(x0, 0).mean() - s.tau * s.log_det_init(log_s)) / D
            # the gradient reaches s_init only: V is differentiated in x_0, its weights are left alone
            self.optimizer_step("s_init", s_loss, None, inputs=[s.log_s_init])
            s.value.zero_grad(set_to_none=True)
        ema_update(self.value_target, s.value, cfg.ema)
        self.iteration += 1
        e = torch.cat(final_energies)  # clipped E(x_T) of the on-policy (TD-resampled or rollout) final states
        return Metrics.of(td_loss=torch.stack(losses).mean(), s_init=s.s_init.mean(), s_init_loss=s_loss,
                          energy_mean=e.mean(),
                          n_energy_evals=float(self.n_energy_evals))

    def eval_rollout(self, n: int, generator: torch.Generator | None = None) -> VGSRollout:
        """Rollout for evaluation, with path weights: ``sample_noise`` and ``sample_value`` of the config
        (counts ``2 n`` evaluations: the last-step gradients and the final energies)."""
        value = self.value_target if self.cfg.sample_value == "ema" else None
        roll = self.sampler.rollout(n, generator, noise_scale=self.cfg.sample_noise, value=value)
        self.n_energy_evals += roll.n_energy_evals
        return roll

    def sample(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """``n`` samples ``(n, D)`` from the trained sampler (counts ``n`` energy evaluations)."""
        self.n_energy_evals += n
        value = self.value_target if self.cfg.sample_value == "ema" else None
        return self.sampler.sample(n, generator, noise_scale=self.cfg.sample_noise, value=value)


__all__ = ["TD_LOSSES", "VGS", "VGSConfig", "ValueNetConfig", "build_sampler", "make_config", "no_data",
           "preset_names", "read_preset"]
