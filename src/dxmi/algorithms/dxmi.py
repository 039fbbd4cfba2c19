"""DxMI: maximum-entropy inverse RL of a T-step diffusion sampler with an energy-based model.

Objective (min over the energy phi, max over the sampler theta):

    E_data[E(x)] - E_pi[E(x_T)] + tau * H(pi(x_T))        (+ gamma * energy-magnitude term)

**DxDP** (the sampler update). The marginal entropy is bounded through an auxiliary reverse chain
with per-step variances s_t^2, which turns the inner problem into optimal control with terminal
cost E(x_T) and running cost

    r_t = tau2 * c_t - tau1 * log sigma_t,     c_t = mean_d (x_{t+1} - x_t)^2 / (2 s_t^2).

The value obeys the soft Bellman backup V(x_t, t) = E_pi[V(x_{t+1}, t + 1) + tau2 c_t] - tau1 log sigma_t,
V(., T) = E, learned by TD from t = T-1 down to 0; the policy improves by one reparameterised step

    min_theta E_eps[ V(mu_theta(x_t, t) + sigma_t eps, t + 1) + tau2 c_t ] - tau1 log sigma_t,

so only one network evaluation is differentiated per update (no back-propagation through the chain).

One iteration, in the release's order: (1) roll out B trajectories into the preallocated buffer,
(2) adaptive velocity regularisation s_t^2 <- a s_t^2 + (1 - a) mean (x_{t+1} - x_t)^2, (3) one energy
step on L_E = mean E(data) - mean E(x_T) + gamma (mean E(data)^2 + mean E(x_T)^2), (4) TD value
steps, (5) sampler step(s).

**Class-conditional** (a policy with ``num_classes > 0`` and a :class:`LabelledBatch` of data): the
B chains of an iteration carry the labels of the data batch, so E(data | y) and E(x_T | y) are
compared class by class; labels reach the energy and the value when they are class-conditional
(an unconditional energy is a class-agnostic reward for a conditional sampler). A plain batch
trains a conditional policy on its null class, as before.
"""

from __future__ import annotations

import copy
from dataclasses import asdict, dataclass
from typing import Any, cast

import torch
from torch import Tensor, nn

from dxmi.algorithms.base import Algorithm, MethodAsForward, make_adam
from dxmi.algorithms.losses import contrastive_divergence
from dxmi.buffers.trajectory import TrajectoryBuffer
from dxmi.energies.base import Energy
from dxmi.nets.conditioning import labels_for
from dxmi.nets.ema import ema_update
from dxmi.nets.mlp import set_dedup_times
from dxmi.policies.base import GaussianPolicy
from dxmi.records import Batch, Metrics, TransitionBatch, split_batch
from dxmi.validation import check_ranges
from dxmi.values.base import CostToGo, ValueFunction
from dxmi.values.time_cost import SigmoidTimeCost, TimeCost, ZeroTimeCost

VELOCITY_INITS = ("sigma", "rollout")


@dataclass
class DxMIConfig:
    """Switches of DxMI (names follow the paper / release).

    Attributes:
        batch_size: B, trajectories rolled out per iteration (also the data batch size).
        tau1: weight of the entropy term (-tau1 log sigma_t in the running cost).
        tau2: weight of the velocity cost c_t.
        gamma: energy-magnitude regulariser weight in the EBM loss (0 disables).
        energy_r1: weight r of a gradient penalty on the data, (r / 2) mean ||grad_x E(x_data)||^2
            (Mescheder et al. 2018's R1; 0 disables, as in the paper). It flattens the energy at
            the data so that a sampler that overshoots it is not rewarded for going further.
        adavelreg: EMA factor a of the adaptive velocity regularisation (1.0 freezes s_t^2).
        velocity_init: "sigma" (s_t^2 = sigma_t^2, the release) or "rollout" (first rollout's
            mean squared step).
        time_cost_kappa: kappa of the sigmoid time cost added to TD targets (0 disables).
        entropy_in_value / velocity_in_value: put the tau terms in the value targets (clean
            derivation) or only in the sampler loss (released image configs).
        value_skip_last_k / sampler_skip_last_k: drop the tau terms for steps t >= T - k.
        value_resample: TD targets use x_{t+1} freshly drawn from the current policy.
        sampler_steps: sampler optimiser steps per iteration.
        value_passes: backward TD sweeps (t = T-1 .. 0) per iteration.
        sampler_warmup: iterations at the start with energy and value steps only (the sampler
            waits until the energy and the value carry signal rather than noise).
        energy_steps: energy optimiser steps per iteration (on the same data batch and rollout
            samples).
        precondition_steps: weight step t's sampler loss by 1 / g_t, g_t the policy's gain
            d mu / d(network output) (:meth:`GaussianPolicy.mean_gain`), so that steps whose mean
            amplifies the shared network's output (the first steps of a DDPM chain started
            from pure noise) do not dominate its updates.
        policy_ema: decay of an exponential moving average of the policy used for sampling and
            evaluation (0 disables; rollouts for training always use the online policy).
        *_lr: Adam learning rates; *_grad_clip: gradient-norm clips (None disables).

    Speed options (all off by default; each changes the numbers, not the method):
        td_batched: each TD pass is one regression on all T * B transitions of the buffer, with
            every step's target from the value before the pass (a Jacobi sweep of the soft Bellman
            backup instead of the backward Gauss-Seidel sweep t = T-1 .. 0; the same fixed point),
            so one optimiser step per pass instead of T. Its targets evaluate E at the last step's
            transitions only and V at the others.
        td_sample: with ``td_batched``, each pass regresses on this many transitions drawn uniformly
            (with replacement) from the T * B of the buffer, as the sampler step does, instead of on
            all of them (0): the TD cost no longer grows with T.
        split_cost_to_go: the sampler loss evaluates E only where t + 1 = T and V only elsewhere
            (by default both run on the whole batch and each row keeps one).
        dedup_times: the time-conditioned MLPs of the policy and the value embed each distinct
            step of a batch once (:attr:`dxmi.nets.mlp.TimeMLP.dedup_times`).
        fused_adam: the optimisers use Adam's fused kernel (default: its multi-tensor kernels, which
            give the per-tensor loop's numbers).
        channels_last: the energy's and the value's convolutions (4-D weights) in the channels-last
            memory format, which the CPU's convolution kernels run faster. The policy is left as it
            is: the group norms of a UNet run slower in that format on the CPU.
    """

    batch_size: int = 256
    tau1: float = 0.1
    tau2: float = 0.01
    gamma: float = 1.0
    energy_r1: float = 0.0
    adavelreg: float = 0.99
    velocity_init: str = "sigma"
    time_cost_kappa: float = 0.0
    entropy_in_value: bool = True
    velocity_in_value: bool = True
    value_skip_last_k: int = 0
    sampler_skip_last_k: int = 0
    value_resample: bool = False
    sampler_steps: int = 1
    value_passes: int = 1
    sampler_warmup: int = 0
    energy_steps: int = 1
    precondition_steps: bool = False
    policy_ema: float = 0.0
    sampler_lr: float = 1e-5
    sigma_lr: float = 1e-3
    value_lr: float = 1e-3
    energy_lr: float = 1e-3
    sampler_grad_clip: float | None = 0.1
    value_grad_clip: float | None = 0.1
    energy_grad_clip: float | None = None
    td_batched: bool = False
    td_sample: int = 0
    split_cost_to_go: bool = False
    dedup_times: bool = False
    fused_adam: bool = False
    channels_last: bool = False

    def __post_init__(self) -> None:
        if self.velocity_init not in VELOCITY_INITS:
            raise ValueError(f"velocity_init must be one of {VELOCITY_INITS}, got {self.velocity_init!r}")
        if not 0.0 <= self.adavelreg <= 1.0:
            raise ValueError(f"adavelreg must be in [0, 1], got {self.adavelreg}")
        for name in ("tau1", "tau2", "gamma", "energy_r1", "time_cost_kappa"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        if not 0.0 <= self.policy_ema < 1.0:
            raise ValueError(f"policy_ema must be in [0, 1), got {self.policy_ema}")
        if self.batch_size < 1 or self.sampler_steps < 0:
            raise ValueError("batch_size must be >= 1 and sampler_steps >= 0")
        # learning rates >= 0 and gradient clips > 0 (or None) by name, and the counts
        check_ranges(self, at_least_one=("batch_size",),
                     non_negative=("sampler_steps", "energy_steps", "value_passes", "sampler_warmup",
                                   "value_skip_last_k", "sampler_skip_last_k", "td_sample"))
        if self.td_sample and not self.td_batched:
            raise ValueError("td_sample draws the transitions of a batched TD pass: set td_batched too")


class DxMI(Algorithm):
    """DxMI with the DxDP sampler update. Parts are passed in; optimisers are built here."""

    name = "dxdp"
    supports_distributed = True

    def __init__(self, policy: GaussianPolicy, value: ValueFunction, energy: Energy,
                 config: DxMIConfig, generator: torch.Generator | None = None):
        if value.num_steps != policy.num_steps:
            raise ValueError(f"value has T={value.num_steps} but the policy has T={policy.num_steps}")
        if tuple(energy.sample_shape) != tuple(policy.sample_shape):
            raise ValueError(f"energy sample shape {energy.sample_shape} != policy's {policy.sample_shape}")
        self.policy, self.value, self.energy, self.config = policy, value, energy, config
        self.T = policy.num_steps
        if config.channels_last:
            for part in (value, energy):  # only 4-D weights change
                cast(Any, part).to(memory_format=torch.channels_last)
        if config.dedup_times:
            for module in (policy, value, energy):
                set_dedup_times(module)
        self.cost_to_go = CostToGo(value, energy, split=config.split_cost_to_go)
        self.time_cost: TimeCost = (SigmoidTimeCost(self.T, config.time_cost_kappa)
                                    if config.time_cost_kappa > 0 else ZeroTimeCost())
        device = policy.log_sigma_free.device
        self.device = device
        self.generator = generator or torch.Generator(device=device)
        self.buffer = TrajectoryBuffer(self.T, config.batch_size, policy.sample_shape, device=device,
                                       dtype=policy.log_sigma_free.dtype)  # the policy's precision
        self.s2 = (policy.log_sigma.detach() * 2).exp().clone()  # s_t^2 of the auxiliary chain
        self.s2_initialised = config.velocity_init == "sigma"
        self.modules = {"policy": policy, "energy": energy}
        if not value.shares_energy():  # a shared value's parameters are the energy's: save them once
            self.modules["value"] = value
        self.policy_step = MethodAsForward(policy, "step")  # what DDP wraps for the sampler loss
        self.ema_policy: GaussianPolicy | None = None
        if config.policy_ema > 0:
            self.ema_policy = copy.deepcopy(policy).requires_grad_(False)
            self.modules["policy_ema"] = self.ema_policy
        fused = config.fused_adam
        self.optimizers = {
            "sampler": make_adam([
                {"params": policy.mean_parameters(), "lr": config.sampler_lr},
                {"params": policy.sigma_parameters(), "lr": config.sigma_lr},
            ], config.sampler_lr, fused),
        }
        energy_params = [p for p in energy.parameters() if p.requires_grad]
        if energy_params:  # a parameter-free energy is a fixed, known reward
            self.optimizers["energy"] = make_adam(energy_params, config.energy_lr, fused)
        if not value.shares_energy():
            self.optimizers["value"] = make_adam(value.trainable_parameters(), config.value_lr, fused)

    def train_targets(self) -> dict[str, nn.Module]:
        """The sampler loss runs ``policy.step``; the energy and TD losses call the modules (a value
        shared with the energy is its own target: its parameters are the energy's)."""
        targets: dict[str, nn.Module] = {"policy": self.policy_step, "energy": self.energy, "value": self.value}
        return {n: m for n, m in targets.items() if any(p.requires_grad for p in m.parameters())}

    # -- costs ----------------------------------------------------------------------------------
    def velocity(self, x: Tensor, next_x: Tensor, t: Tensor) -> Tensor:
        """c_t = mean_d (x_{t+1} - x_t)^2 / (2 s_t^2): (N,)."""
        return ((next_x - x) ** 2).flatten(1).mean(1) / (2 * self.s2[t])

    def running_cost(self, batch: TransitionBatch, next_x: Tensor, skip_last_k: int,
                     entropy: bool = True, velocity: bool = True) -> Tensor:
        """tau2 c_t - tau1 log sigma_t (each optionally off; both off for t >= T - k): (N,)."""
        cfg = self.config
        keep = (batch.t < self.T - skip_last_k).float()
        cost = torch.zeros(len(batch), device=next_x.device)
        if velocity and cfg.tau2 > 0:
            cost = cost + cfg.tau2 * self.velocity(batch.x, next_x, batch.t)
        if entropy and cfg.tau1 > 0:
            cost = cost - cfg.tau1 * self.policy.log_sigma[batch.t]
        return keep * cost

    # -- the iteration --------------------------------------------------------------------------
    def update(self, batch: Batch) -> Metrics:
        cfg = self.config
        data, y = split_batch(batch)
        if data.shape[0] != cfg.batch_size or tuple(data.shape[1:]) != self.policy.sample_shape:
            raise ValueError(f"DxMI.update: expected data batch ({cfg.batch_size}, {self.policy.sample_shape}), "
                             f"received {tuple(data.shape)}")
        if y is not None and self.policy.num_classes == 0:
            raise ValueError("DxMI.update: a labelled batch needs a class-conditional policy; this one is "
                             "unconditional (pass the images alone)")
        self.train(True)
        # rolled out straight into the buffer's storage (store then skips the copy)
        traj = self.policy.rollout(cfg.batch_size, self.generator, y=y, out=self.buffer.slots(cfg.batch_size))
        self.buffer.store(traj)
        self._update_velocity_scale()
        m = Metrics()
        for _ in range(cfg.energy_steps):
            m = self.energy_step(data, y)
        m = m.merged(self.value_steps())
        if self.iteration >= cfg.sampler_warmup:
            m = m.merged(self.sampler_steps())
        self.iteration += 1
        ls = self.policy.log_sigma.detach()
        return m.merged({"sigma_first": float(ls[0].exp()), "sigma_last": float(ls[-1].exp()),
                         "s2_mean": float(self.s2.mean())})

    @torch.no_grad()
    def _update_velocity_scale(self) -> None:
        s = self.buffer.states[:, : self.buffer.size]
        sq = self.mean_over_ranks(((s[1:] - s[:-1]) ** 2).flatten(2).mean(dim=(1, 2)))  # (T,), global batch
        if not self.s2_initialised:
            self.s2 = sq.clamp_min(1e-12).clone()
            self.s2_initialised = True
            return
        a = self.config.adavelreg
        self.s2 = (a * self.s2 + (1 - a) * sq).clamp_min(1e-12)

    def energy_step(self, data: Tensor, y: Tensor | None = None) -> Metrics:
        """L_E = mean E(data | y) - mean E(x_T | y) + gamma (...) [+ (r / 2) mean ||grad_x E(data | y)||^2],
        labels only for a conditional energy."""
        cfg = self.config
        if "energy" not in self.optimizers:
            return Metrics()
        energy = self.trained("energy")
        if cfg.energy_r1 > 0:
            data = data.detach().requires_grad_(True)
        e_data = energy(data, labels_for(self.energy, y))
        e_model = energy(self.buffer.samples.detach(), labels_for(self.energy, self.buffer.sample_labels))
        loss = contrastive_divergence(self.energy, data, e_data, self.buffer.samples, e_model, cfg.gamma)
        extra: dict[str, Tensor] = {}
        if cfg.energy_r1 > 0:
            (g,) = torch.autograd.grad(e_data.sum(), data, create_graph=True)
            r1 = (g**2).flatten(1).sum(1).mean()
            loss = loss + 0.5 * cfg.energy_r1 * r1
            extra["energy_r1"] = r1.detach()
        gnorm = self.optimizer_step("energy", loss, cfg.energy_grad_clip)
        return Metrics.of(loss_energy=loss, energy_data=e_data.mean(), energy_model=e_model.mean(),
                          grad_norm_energy=gnorm, **extra)

    def value_target(self, batch: TransitionBatch) -> Tensor:
        """Soft-Bellman target of V(x_t, t) for a batch of transitions (one step t, or all of them
        with ``td_batched``, whose E is evaluated at the last step's rows only) (no gradient)."""
        cfg = self.config
        with torch.no_grad():
            next_x = batch.next_x
            if cfg.value_resample:
                next_x = self.policy.step(batch.x, batch.t, self.generator, y=batch.y).next_x
            split = True if cfg.td_batched else None
            target = self.cost_to_go(next_x, batch.t + 1, batch.y, split=split) + self.time_cost(batch.t)
            target = target + self.running_cost(batch, next_x, cfg.value_skip_last_k,
                                                entropy=cfg.entropy_in_value,
                                                velocity=cfg.velocity_in_value)
        return target

    def value_steps(self) -> Metrics:
        cfg = self.config
        opt_name = next((n for n in ("value", "energy") if n in self.optimizers), None)
        if opt_name is None:
            return Metrics()
        value = self.trained("value")
        losses = []
        # td_batched: one regression on all T * B transitions per pass; else one per step, t = T-1 .. 0
        steps: list[int | None] = [None] if cfg.td_batched else list(range(self.T - 1, -1, -1))
        for t in [t for _ in range(cfg.value_passes) for t in steps]:
            if t is not None:
                batch = self.buffer.at(t)
            elif cfg.td_sample:
                batch = self.buffer.sample(cfg.td_sample, self.generator)
            else:
                batch = self.buffer.transitions()
            target = self.value_target(batch)
            loss = ((value(batch.x, batch.t, labels_for(self.value, batch.y)) - target) ** 2).mean()
            self.optimizer_step(opt_name, loss, cfg.value_grad_clip)
            losses.append(loss.detach())
        return Metrics.of(loss_value=torch.stack(losses).mean())

    def sampler_loss(self) -> tuple[Tensor, Metrics]:
        """DxDP: E[V(x_{t+1}, t + 1) (E at the last step) + running cost] over uniform transitions."""
        cfg = self.config
        batch = self.buffer.sample(cfg.batch_size, self.generator)
        step = self.trained("policy")(batch.x, batch.t, self.generator, y=batch.y)  # = policy.step, gradient-synced
        v_next = self.cost_to_go(step.next_x, batch.t + 1, batch.y)
        cost = self.running_cost(batch, step.next_x, cfg.sampler_skip_last_k)
        per_sample = v_next + cost
        if cfg.precondition_steps:
            w = 1.0 / self.policy.mean_gain().to(per_sample.device)
            per_sample = per_sample * (w / w.mean())[batch.t]
        loss = per_sample.mean()
        return loss, Metrics.of(loss_sampler=loss, sampler_v_next=v_next.mean())

    def sampler_steps(self) -> Metrics:
        cfg = self.config
        params = [p for g in self.optimizers["sampler"].param_groups for p in g["params"]]
        m = Metrics()
        for _ in range(cfg.sampler_steps):
            loss, m = self.sampler_loss()
            gnorm = self.optimizer_step("sampler", loss, cfg.sampler_grad_clip, inputs=params)
            m = m.merged({"grad_norm_sampler": float(gnorm)})
        if self.ema_policy is not None and cfg.sampler_steps > 0:
            self._update_ema()
        return m

    def _update_ema(self) -> None:
        assert self.ema_policy is not None
        ema_update(self.ema_policy, self.policy, self.config.policy_ema)

    @property
    def sampling_policy(self) -> GaussianPolicy:
        """The policy to sample with: the EMA copy when enabled, else the online policy."""
        return self.ema_policy if self.ema_policy is not None else self.policy

    # -- state ----------------------------------------------------------------------------------
    def extra_state(self) -> dict[str, Any]:
        return {"s2": self.s2.clone(), "s2_initialised": self.s2_initialised,
                "config": asdict(self.config)}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        if "s2" in state:
            self.s2 = state["s2"].to(self.device)
            self.s2_initialised = bool(state["s2_initialised"])


