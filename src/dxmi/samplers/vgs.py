"""The Value Gradient Sampler policy: a T-step chain whose drift is the gradient of a value.

Symbols follow the paper (Yoon et al. 2025, arXiv 2502.13280). Time t = 0 is the initial noise,
t = T the sample.

- Initial state: ``x_0 ~ N(0, s_init^2 I)`` with a learnable ``s_init``.
- Auxiliary reverse chain ``q~(x_t | x_{t+1}) = N(x_t; x_{t+1} / alpha_t, s_t^2 I)`` with per-step
  variances ``s_t^2`` (a schedule) and ``alpha_t = 1 / sqrt(1 - s_t^2)`` (VP) or ``1`` (VE).
- Step ``t = 0..T-1``::

      x_{t+1} = alpha_t x_t + mu_t + sigma_t eps,   sigma_t = s_t alpha_t,
      mu_t = -(s_t^2 alpha_t^2 / tau) grad V(alpha_t x_t, t + 1),

  with ``V(., T) = E`` (the energy) so the last step follows ``grad E``. So the sampler is a
  :class:`~dxmi.policies.GaussianPolicy`, ``pi(x_{t+1} | x_t) = N(alpha_t x_t + mu_t, sigma_t^2 I)``,
  whose mean is built from the value's gradient and whose stds are the schedule's.
- Running cost (per step, expected over eps): ``tau (||mu_t||^2 / (2 s_t^2 alpha_t^2) - D log alpha_t)``,
  the log-ratio ``log pi(x_{t+1}|x_t) - log q~(x_t|x_{t+1})`` in expectation.
- Path weight: ``log w = -E(x_T) + sum_t log q~(x_t|x_{t+1}) - log pi(x_0) - sum_t log pi(x_{t+1}|x_t)``,
  ``E[w] = Z``; so ``log Z ~ logsumexp(log w) - log N`` and ``ESS = (sum w)^2 / (N sum w^2)``.

For particle systems (``target.particles`` set) the drift and the noise are projected onto the
centre-of-mass-free subspace and D is the effective dimension ``(n - 1) d``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from dxmi.nets.egnn import EGNN
from dxmi.nets.mlp import TimeMLP, check_shape
from dxmi.policies.base import GaussianPolicy
from dxmi.records import Trajectory
from dxmi.schedules.vgs import S2_SCHEDULES, VGSSchedule
from dxmi.targets.base import Target
from dxmi.targets.particles import pair_distances
from dxmi.values.base import ValueFunction

# ---------------------------------------------------------------------------------------------
# Value networks


class VGSValue(ValueFunction):
    """``V(x, t)`` for t = 0..T-1: ``(B, D), (B,) -> (B,)``.

    ``features`` maps states to network inputs (identity, or sorted pair distances for particles:
    invariant to permutation, rotation and translation, so ``grad V`` is equivariant), or, with
    ``"egnn"`` (particles), replaces the MLP by the E(n)-equivariant graph network
    :class:`~dxmi.nets.egnn.EGNN` on the coordinates (``hidden`` wide, ``depth`` message-passing
    layers): invariant too, and it keeps the geometry that the sorted distances lose. With
    ``scale_with_d`` the network predicts ``V / D`` and the output is multiplied by D.
    ``dedup_times``: :attr:`TimeMLP.dedup_times` of the network (batches of mixed times embed each
    distinct time once; an option, see there).
    """

    def __init__(self, dim: int, num_steps: int, hidden: int = 128, depth: int = 3, time_dim: int = 64,
                 features: str = "identity", particles: tuple[int, int] | None = None,
                 scale_with_d: bool = False, d_scale: float | None = None, dedup_times: bool = False):
        super().__init__((dim,), num_steps)
        if features not in FEATURES:
            raise ValueError(f"unknown value features {features!r}; choose from {sorted(FEATURES)}")
        if features in ("distances", "egnn") and particles is None:
            raise ValueError(f"{features} value features need a particle target")
        self.features = features
        self.particles = particles
        self.net: nn.Module
        if features == "egnn":
            assert particles is not None
            self.net = EGNN(particles[0], particles[1], hidden=hidden, layers=depth, time_dim=time_dim,
                            dedup_times=dedup_times)
        else:
            in_dim = FEATURES[features][1](dim, particles)
            self.net = TimeMLP(in_dim, 1, hidden=hidden, depth=depth, time_dim=time_dim, dedup_times=dedup_times)
        self.scale = float(d_scale if d_scale is not None else dim) if scale_with_d else 1.0

    def value(self, x: Tensor, t: Tensor) -> Tensor:
        h = FEATURES[self.features][0](x, self.particles)
        return self.scale * self.net(h, t.float()).reshape(x.shape[0])


def _identity(x: Tensor, particles: tuple[int, int] | None) -> Tensor:
    return x


def _sorted_distances(x: Tensor, particles: tuple[int, int] | None) -> Tensor:
    assert particles is not None
    return torch.sort(pair_distances(x, particles, eps=1e-6), dim=1).values


FEATURES: dict[str, tuple[Callable[[Tensor, tuple[int, int] | None], Tensor],
                          Callable[[int, tuple[int, int] | None], int]]] = {
    "identity": (_identity, lambda d, p: d),
    "distances": (_sorted_distances, lambda d, p: (p[0] * (p[0] - 1)) // 2 if p else d),
    "egnn": (_identity, lambda d, p: d),  # the coordinates, to the graph network (not an MLP)
}


# ---------------------------------------------------------------------------------------------
# The sampler


@dataclass(frozen=True, kw_only=True)
class VGSRollout(Trajectory):
    """A batch of VGS trajectories: a :class:`~dxmi.records.Trajectory` (``states``, the step
    ``log_sigma``; no labels) with what VGS adds to it.

    Attributes:
        states: ``(T + 1, B, D)``; ``states[T]`` the samples.
        log_sigma: ``(T,)`` the step log-stds ``log(s_t alpha_t)``.
        drifts: ``(T, B, D)`` the drifts ``mu_t`` used.
        log_w: ``(B,)`` path log-weights (``nan`` when rolled out off-policy, noise_scale != 1, or
            without weights).
        energy: ``(B,)`` ``E(x_T)`` (unclipped; ``nan`` without weights).
        n_energy_evals: energy evaluations spent, one per ``E`` or ``grad E`` of one state: ``B``
            last-step gradients ``grad E(alpha x_{T-1})``, plus ``B`` final energies ``E(x_T)`` with weights.
    """

    drifts: Tensor
    log_w: Tensor
    energy: Tensor
    n_energy_evals: int

    def log_z(self) -> float:
        """``log (1/N sum_i w_i)``: the importance-sampling estimate of log Z (a lower bound in expectation)."""
        n = self.log_w.shape[0]
        return float(torch.logsumexp(self.log_w, 0) - math.log(n))

    def ess(self) -> float:
        """Normalised effective sample size ``(sum w)^2 / (N sum w^2)`` in (0, 1]."""
        lw = self.log_w - self.log_w.max()
        w = lw.exp()
        return float(w.sum() ** 2 / (w.shape[0] * (w * w).sum()))


#: How ``energy_clip`` bounds E: ``hard`` = min(E, c); ``log`` = c + log(1 + E - c) above c.
ENERGY_CLIP_KINDS = ("hard", "log")


class ValueGradientSampler(GaussianPolicy):
    """The VGS policy over a value ``V(x, t)`` (t < T) and the target energy ``E`` (t = T).

    A :class:`~dxmi.policies.GaussianPolicy` on ``(D,)``: ``pi(x_{t+1} | x_t) = N(alpha_t x_t + mu_t,
    sigma_t^2 I)`` with the value-gradient drift ``mu_t`` (:meth:`drift`), the schedule's stds
    ``sigma_t = s_t alpha_t`` (fixed, not learned) and noise on the centre-of-mass-free subspace for
    particle systems. What VGS adds to the Gaussian policy: a learnable initial scale ``s_init``,
    rollouts that record the drifts and the path weights (:class:`VGSRollout`), off-policy
    (``noise_scale``) rollouts, the auxiliary chain run backwards (:meth:`backward_path`), and the
    energy clip.

    Args:
        value: a :class:`ValueFunction` on ``(D,)``.
        target: the :class:`Target` (``E`` of the last step and the COM projection).
        schedule: the :class:`VGSSchedule`.
        tau: temperature of the running cost.
        s_init: initial value of the learnable initial scale.
        s_init_per_dim: one learnable scale per coordinate, ``x_0 ~ N(0, diag(s_init_d^2))``, instead of
            one shared scale (targets whose coordinates live on different scales, e.g. the funnel;
            not for particle systems, whose start must stay rotation-invariant).
        drift_clip: if set, the per-sample norm of ``grad V`` / ``grad E`` is clipped to it.
        energy_clip: if set, ``E`` is bounded above at this level wherever it enters a cost.
        energy_clip_kind: ``"hard"`` clamps (``min(E, c)``: no gradient above c, as in the release);
            ``"log"`` compresses instead, ``c + log(1 + E - c)`` above c, so states far above the
            level (overlapping particles) still get a direction downhill.
    """

    def __init__(self, value: ValueFunction, target: Target, schedule: VGSSchedule, tau: float = 1.0,
                 s_init: float = 1.0, drift_clip: float | None = None, energy_clip: float | None = None,
                 s_init_per_dim: bool = False, energy_clip_kind: str = "hard"):
        if energy_clip_kind not in ENERGY_CLIP_KINDS:
            raise ValueError(f"energy_clip_kind must be one of {ENERGY_CLIP_KINDS}, got {energy_clip_kind!r}")
        if value.sample_shape != (target.dim,) or value.num_steps != schedule.num_steps:
            raise ValueError(f"value is for shape {value.sample_shape} and T={value.num_steps}; target has "
                             f"dim {target.dim} and the schedule T={schedule.num_steps}")
        if tau <= 0 or s_init <= 0:
            raise ValueError(f"tau and s_init must be > 0, got {tau}, {s_init}")
        if s_init_per_dim and target.particles is not None:
            raise ValueError("s_init_per_dim would break the rotation invariance of a particle system's start")
        super().__init__((target.dim,), schedule.sigma, learn_sigma=False)
        self.value = value
        self.target = target
        self.schedule = schedule
        self.tau = tau
        shape = (target.dim,) if s_init_per_dim else ()
        self.log_s_init = nn.Parameter(torch.full(shape, math.log(s_init)))
        self.drift_clip = drift_clip
        self.energy_clip = energy_clip
        self.energy_clip_kind = energy_clip_kind
        self.dim = target.dim
        self.eff_dim = target.effective_dim

    # -- the Gaussian policy ------------------------------------------------------------------
    def sigma_at(self, t: Tensor) -> Tensor:
        """``sigma_t = s_t alpha_t``: the schedule's table itself."""
        return self.schedule.sigma[t]

    def project_noise(self, noise: Tensor) -> Tensor:
        """Onto the centre-of-mass-free subspace for particle systems (the identity otherwise)."""
        return self.target.project(noise)

    def mean(self, x: Tensor, t: Tensor, y: Tensor | None = None) -> Tensor:
        """``alpha_t x_t + mu_t`` with the value-gradient drift ``mu_t`` (:meth:`drift`, detached: the
        policy improves through its value, not through this mean): ``(B, D), (B,) -> (B, D)``; a batch
        of mixed times is computed one time at a time."""
        if y is not None:
            raise ValueError("the VGS policy is unconditional: labels y are not accepted")
        times = t.unique()
        if len(times) == 1:
            k = int(times[0])
            return self.schedule.alpha[k] * x + self.drift(x, k)
        out = torch.empty_like(x)
        for k in times.tolist():
            rows = t == k
            out[rows] = self.schedule.alpha[k] * x[rows] + self.drift(x[rows], k)
        return out

    def log_prob_given_mean(self, next_x: Tensor, mu: Tensor, t: Tensor) -> Tensor:
        """``log N(x_{t+1}; mu, sigma_t^2 I)`` on the chain's ``D_eff``-dimensional state space (all of
        ``R^D``, or the centre-of-mass-free subspace for particle systems, where the residual lies): (B,)."""
        sigma = self.sigma_at(t)
        z = (next_x - mu) / sigma[:, None]
        return -0.5 * (z * z).sum(1) - self.eff_dim * (torch.log(sigma) + 0.5 * math.log(2 * math.pi))

    def initial(self, n: int, generator: torch.Generator | None = None,
                device: torch.device | str | None = None, log_s: Tensor | None = None) -> Tensor:
        """``x_0 = s_init z``, ``z ~ N(0, I)`` (COM-free for particles): ``(n, D)``, differentiable in s_init
        (in ``log_s`` when given, which stands in for ``log_s_init``)."""
        z = torch.randn(n, self.dim, generator=generator, device=device or self.log_s_init.device)
        s_init = self.s_init if log_s is None else log_s.exp()
        return s_init * self.target.project(z)

    # -- what VGS adds ------------------------------------------------------------------------
    @property
    def s_init(self) -> Tensor:
        """The initial scale: ``()`` (shared) or ``(D,)`` (per coordinate)."""
        return self.log_s_init.exp()

    def log_det_init(self, log_s: Tensor | None = None) -> Tensor:
        """``log det`` of the initial scale matrix: ``D log s_init``, or ``sum_d log s_init_d`` per coordinate.
        ``log_s`` stands in for ``log_s_init`` (the output of its distributed wrapper in training)."""
        log_s = self.log_s_init if log_s is None else log_s
        if log_s.dim() == 0:
            return self.eff_dim * log_s
        return log_s.sum()

    def clipped_energy(self, x: Tensor) -> Tensor:
        """``E(x)`` bounded by the energy clip: ``(B, D) -> (B,)``."""
        return self.clip_energy(self.target(x))

    def clip_energy(self, e: Tensor) -> Tensor:
        """The energy clip applied to energies already evaluated: ``(B,) -> (B,)``."""
        c = self.energy_clip
        if c is None:
            return e
        if self.energy_clip_kind == "hard":
            return e.clamp(max=c)
        return torch.where(e > c, c + torch.log1p((e - c).clamp(min=0.0)), e)

    def cost_to_go(self, x: Tensor, t: int, value: ValueFunction | None = None) -> Tensor:
        """``V(x, t)`` for ``t < T`` (by ``value``, default the online one) and ``E(x)`` at ``t = T``."""
        if t == self.num_steps:
            return self.clipped_energy(x)
        v = value if value is not None else self.value
        return v(x, torch.full((x.shape[0],), t, dtype=torch.long, device=x.device))

    def drift(self, x: Tensor, t: int, value: ValueFunction | None = None) -> Tensor:
        """``mu_t = -(s_t^2 alpha_t^2 / tau) grad V(alpha_t x_t, t + 1)``: ``(B, D) -> (B, D)`` (detached).
        ``value`` replaces the online value (e.g. the EMA target for evaluation)."""
        check_shape("VGS drift x", x, (None, self.dim))
        a = self.schedule.alpha[t]
        with torch.enable_grad():
            y = (a * x).detach().requires_grad_(True)
            v = self.target(y) if t + 1 == self.num_steps else self.cost_to_go(y, t + 1, value)
            (g,) = torch.autograd.grad(v.sum(), y)
        g = self.target.project(g)
        if self.drift_clip is not None:
            norm = g.norm(dim=1, keepdim=True).clamp(min=1e-12)
            g = g * (self.drift_clip / norm).clamp(max=1.0)
        return -(self.schedule.s2[t] * a * a / self.tau) * g.detach()

    def running_cost(self, mu: Tensor, t: Tensor) -> Tensor:
        """``tau (||mu_t||^2 / (2 s_t^2 alpha_t^2) - D log alpha_t)``: ``(N, D), (N,) -> (N,)``."""
        sig2 = self.schedule.sigma[t] ** 2
        return self.tau * ((mu * mu).sum(1) / (2 * sig2) - self.eff_dim * torch.log(self.schedule.alpha[t]))

    def step_given_drift(self, x: Tensor, mu: Tensor, t: int | Tensor, noise: Tensor) -> Tensor:
        """``x_{t+1} = alpha_t x_t + mu_t + sigma_t * noise`` (noise projected for particles) for a drift
        already computed: the step of :meth:`step` without recomputing ``mu_t``."""
        a = self.schedule.alpha[t]
        s = self.schedule.sigma[t]
        if isinstance(t, Tensor):
            a, s = a[:, None], s[:, None]
        return a * x + mu + s * self.project_noise(noise)

    @torch.no_grad()
    def rollout(self, n: int, generator: torch.Generator | None = None, x0: Tensor | None = None,
                y: Tensor | None = None, out: Tensor | None = None, noise_scale: float = 1.0,
                value: ValueFunction | None = None, weights: bool = True) -> VGSRollout:
        """Roll out ``n`` trajectories (from ``x0`` (n, D) when given, else from ``x_0 = s_init z``) into
        ``out`` when given (e.g. a trajectory buffer's storage, written in place); ``noise_scale`` > 1
        gives off-policy (exploration) rollouts; ``value`` replaces the online value in the drift (e.g.
        the EMA target value); ``weights=False`` skips ``E(x_T)`` (and so the path weights), saving one
        energy evaluation per sample. The chain is :meth:`step`'s, with the drifts kept."""
        if n < 1:
            raise ValueError(f"number of samples must be >= 1, got {n}")
        if y is not None:
            raise ValueError("the VGS policy is unconditional: labels y are not accepted")
        dev = self.log_s_init.device
        if x0 is None:
            x = self.initial(n, generator)
        else:
            check_shape("VGS rollout x0", x0, (n, self.dim))
            x = x0
        s0 = self.s_init
        # log pi(x_0) on the (D_eff)-dim subspace.
        log_pi0 = (-0.5 * ((x / s0) ** 2).sum(1) - self.log_det_init()
                   - 0.5 * self.eff_dim * math.log(2 * math.pi))
        log_w = -log_pi0
        states = self.states_storage(x, out)
        drifts = torch.empty(self.num_steps, n, self.dim, device=x.device, dtype=x.dtype)
        states[0] = x
        # the drifts differentiate V and E in x only: with their weights frozen for the rollout, autograd
        # records no weight-gradient edges (the same numbers, less bookkeeping per step)
        with _frozen(value if value is not None else self.value), _frozen(self.target):
            for t in range(self.num_steps):
                mu = self.drift(x, t, value)
                eps = noise_scale * torch.randn(n, self.dim, generator=generator, device=dev)
                eps = self.target.project(eps)
                x = self.step_given_drift(x, mu, t, eps)
                drifts[t] = mu
                # log pi(x_{t+1}|x_t) - log q~(x_t|x_{t+1}) = ||mu||^2/(2 sig^2) - D log alpha + mu.eps/sig
                s = self.schedule.sigma[t]
                tt = torch.full((n,), t, dtype=torch.long, device=dev)
                log_w = log_w - (self.running_cost(mu, tt) / self.tau + (mu * eps).sum(1) / s)
                states[t + 1] = x
        log_sigma = self.log_sigma.detach().clone()
        if not weights:
            nan = torch.full_like(log_w, float("nan"))
            return VGSRollout(states=states, log_sigma=log_sigma, drifts=drifts, log_w=nan, energy=nan,
                              n_energy_evals=n)
        energy = self.target(x)
        log_w = log_w - energy
        if noise_scale != 1.0:
            log_w = torch.full_like(log_w, float("nan"))
        return VGSRollout(states=states, log_sigma=log_sigma, drifts=drifts, log_w=log_w, energy=energy,
                          n_energy_evals=2 * n)

    @torch.no_grad()
    def backward_path(self, x_final: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """The auxiliary chain run backwards from ``x_T = x_final``: ``x_t ~ q~(x_t | x_{t+1}) =
        N(x_{t+1} / alpha_t, s_t^2 I)`` for t = T-1..0 (noise projected for particles).
        ``(n, D) -> (T + 1, n, D)``, ``path[T] = x_final``. VE: ``x_t = x_{t+1} + s_t eps``; VP:
        ``x_t = sqrt(1 - s_t^2) x_{t+1} + s_t eps``, which keeps N(0, I) invariant.
        These are off-policy states at every time (e.g. noised good samples, for the value to learn
        where the policy does not go yet)."""
        check_shape("VGS backward_path x_final", x_final, (None, self.dim))
        path = torch.empty(self.num_steps + 1, *x_final.shape, device=x_final.device)
        path[-1] = x_final
        for t in reversed(range(self.num_steps)):
            eps = self.target.project(torch.randn(x_final.shape, generator=generator, device=x_final.device))
            path[t] = path[t + 1] / self.schedule.alpha[t] + self.schedule.s2[t].sqrt() * eps
        return path

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None, y: Tensor | None = None,
               noise_scale: float = 1.0, chunk: int = 4096, value: ValueFunction | None = None) -> Tensor:
        """``n`` samples ``(n, D)``, drawn in chunks with ``generator``."""
        outs = [self.rollout(min(chunk, n - i), generator, y=y, noise_scale=noise_scale, value=value,
                             weights=False).samples
                for i in range(0, n, chunk)]
        return torch.cat(outs)


@contextmanager
def _frozen(module: object) -> Iterator[None]:
    """``requires_grad`` off for the parameters of ``module`` (an ``nn.Module``; anything else is left
    alone) for the block, then each put back as it was."""
    params = list(module.parameters()) if isinstance(module, nn.Module) else []
    flags = [p.requires_grad for p in params]
    for p in params:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p, flag in zip(params, flags):
            p.requires_grad_(flag)


__all__ = ["ENERGY_CLIP_KINDS", "FEATURES", "S2_SCHEDULES", "VGSRollout", "VGSSchedule", "VGSValue",
           "ValueGradientSampler"]
