"""The T-step Gaussian policy.

    pi_theta(x_{t+1} | x_t) = N(mu_theta(x_t, t), sigma_t^2 I),   t = 0..T-1,   x_0 ~ N(0, s_0^2 I).

sigma_t is a learnable per-step scalar stored as log sigma_t. With ``fix_last`` the last one is a
buffer (not trained) and only the first T-1 are learned; with ``learn_sigma=False`` the whole table
is a buffer (a policy whose stds are a schedule's, e.g. the Value Gradient Sampler's).

Two hooks let a variant change the chain without rewriting it: :meth:`GaussianPolicy.sigma_at`
(the std table as the variant computes it) and :meth:`GaussianPolicy.project_noise` (the subspace the
noise lives in, e.g. centre-of-mass free for particle systems).

Class-conditional policies (``num_classes = K > 0``, a pretrained class-conditional network) take
labels y (B,) in 0..K-1 in every call: mu_theta(x_t, t, y); a chain keeps its label from x_0 to x_T.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor, nn

from dxmi.io import summarise_values
from dxmi.nets.conditioning import check_labels
from dxmi.records import Step, Trajectory


class GaussianPolicy(nn.Module):
    """Base class: subclasses implement :meth:`mean`; everything else is shared."""

    log_sigma_fixed: Tensor

    def __init__(self, sample_shape: Sequence[int], init_sigma: Tensor | Sequence[float],
                 fix_last: bool = True, init_scale: float = 1.0, learn_sigma: bool = True):
        super().__init__()
        sigma = torch.as_tensor(init_sigma, dtype=torch.float32)
        if sigma.ndim != 1 or len(sigma) < 1 or not bool((sigma > 0).all()):
            raise ValueError(f"init_sigma must be a 1-D table of positive stds, got {summarise_values(sigma.tolist())}")
        self.sample_shape = tuple(int(s) for s in sample_shape)
        self.num_steps = len(sigma)
        self.fix_last = fix_last
        self.init_scale = init_scale
        log_sigma = sigma.log()
        if not learn_sigma:  # the whole table fixed: no free entries
            self.log_sigma_free = nn.Parameter(log_sigma[:0].clone(), requires_grad=False)
            self.register_buffer("log_sigma_fixed", log_sigma.clone())
        elif fix_last:
            self.log_sigma_free = nn.Parameter(log_sigma[:-1].clone())
            self.register_buffer("log_sigma_fixed", log_sigma[-1:].clone())
        else:
            self.log_sigma_free = nn.Parameter(log_sigma.clone())
            self.register_buffer("log_sigma_fixed", torch.zeros(0))

    # -- parameters ---------------------------------------------------------------------------
    @property
    def log_sigma(self) -> Tensor:
        """(T,) log sigma_t for t = 0..T-1."""
        return torch.cat([self.log_sigma_free, self.log_sigma_fixed])

    def sigma_parameters(self) -> list[nn.Parameter]:
        return [self.log_sigma_free]

    def sigma_at(self, t: Tensor) -> Tensor:
        """sigma_t of the steps t (B,) long: (B,). The default exponentiates :attr:`log_sigma`; a variant
        whose stds are a schedule's returns that table itself."""
        return self.log_sigma[t].exp()

    def mean_parameters(self) -> list[nn.Parameter]:
        ids = {id(p) for p in self.sigma_parameters()}
        return [p for p in self.parameters() if id(p) not in ids]

    @property
    def num_classes(self) -> int:
        """K of a class-conditional policy (labels 0..K-1), 0 for an unconditional one."""
        return 0

    # -- the one thing a variant implements ---------------------------------------------------
    def mean(self, x: Tensor, t: Tensor, y: Tensor | None = None) -> Tensor:
        """mu_theta(x_t, t[, y]): x (B, *S), t (B,) long, y (B,) long or None -> (B, *S)."""
        raise NotImplementedError

    def project_noise(self, noise: Tensor) -> Tensor:
        """The noise of a step, onto the subspace the chain lives in: (B, *S) -> (B, *S); the identity
        unless a variant constrains its states."""
        return noise

    def mean_gain(self) -> Tensor:
        """(T,) gain g_t of the mean with respect to the underlying network's output (1 unless a
        variant knows better); used to precondition per-step losses."""
        return torch.ones(self.num_steps)

    # -- shared machinery ---------------------------------------------------------------------
    def _bcast(self, v: Tensor) -> Tensor:
        return v.view(-1, *([1] * len(self.sample_shape)))

    def check_input(self, x: Tensor, t: Tensor, y: Tensor | None = None) -> None:
        if tuple(x.shape[1:]) != self.sample_shape:
            raise ValueError(f"{type(self).__name__}: expected x of shape (B, {self.sample_shape}), "
                             f"received {tuple(x.shape)}")
        if t.shape != (x.shape[0],) or t.dtype != torch.long:
            raise ValueError(f"{type(self).__name__}: expected t of shape ({x.shape[0]},) and dtype long, "
                             f"received {tuple(t.shape)} {t.dtype}")
        if int(t.min()) < 0 or int(t.max()) >= self.num_steps:
            raise ValueError(f"step index out of range 0..{self.num_steps - 1}: {t.min()}..{t.max()}")
        if y is not None:
            check_labels(y, x.shape[0], self.num_classes, type(self).__name__)

    def initial(self, n: int, generator: torch.Generator | None = None,
                device: torch.device | str | None = None) -> Tensor:
        """x_0 ~ N(0, s_0^2 I), shape (n, *S)."""
        device = device or self.log_sigma_free.device
        return self.init_scale * torch.randn((n, *self.sample_shape), generator=generator, device=device)

    def step(self, x: Tensor, t: Tensor | int, generator: torch.Generator | None = None,
             noise: Tensor | None = None, y: Tensor | None = None) -> Step:
        """Draw x_{t+1} = mu_theta(x_t, t[, y]) + sigma_t * eps (eps through :meth:`project_noise`).
        Differentiable (reparameterised)."""
        if isinstance(t, int):
            t_idx = torch.full((x.shape[0],), t, dtype=torch.long, device=x.device)
        else:
            t_idx = t
        self.check_input(x, t_idx, y)
        mu = self.mean(x, t_idx, y)
        sigma = self.sigma_at(t_idx)
        if noise is None:
            noise = torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
        next_x = mu + self._bcast(sigma) * self.project_noise(noise)
        return Step(x=x, next_x=next_x, mean=mu, sigma=sigma, noise=noise, t=int(t_idx[0]))

    def log_prob(self, x: Tensor, next_x: Tensor, t: Tensor, y: Tensor | None = None) -> Tensor:
        """log pi(x_{t+1} | x_t[, y]) summed over dimensions: (B,)."""
        self.check_input(x, t, y)
        return self.log_prob_given_mean(next_x, self.mean(x, t, y), t)

    def log_prob_given_mean(self, next_x: Tensor, mu: Tensor, t: Tensor) -> Tensor:
        """log N(x_{t+1}; mu, sigma_t^2 I) summed over dimensions, for a mean already computed: (B,)."""
        log_sigma = self._bcast(self.log_sigma[t])
        z = (next_x - mu) / log_sigma.exp()
        d = -0.5 * z**2 - log_sigma - 0.5 * math.log(2 * math.pi)
        return d.flatten(1).sum(1)

    @torch.no_grad()
    def rollout(self, n: int, generator: torch.Generator | None = None,
                x0: Tensor | None = None, y: Tensor | None = None, out: Tensor | None = None) -> Trajectory:
        """Roll out n chains without gradient into a preallocated (T + 1, n, *S) tensor (``out`` when
        given, e.g. a trajectory buffer's storage, written in place); with labels y (n,), chain i is
        conditioned on y[i] at every step."""
        x = self.initial(n, generator) if x0 is None else x0
        states = self.states_storage(x, out)
        states[0] = x
        for t in range(self.num_steps):
            x = self.step(x, t, generator, y=y).next_x
            states[t + 1] = x
        return Trajectory(states=states, log_sigma=self.log_sigma.detach().clone(), labels=y)

    def states_storage(self, x0: Tensor, out: Tensor | None = None) -> Tensor:
        """The (T + 1, n, *S) tensor a rollout from x0 (n, *S) writes: ``out`` (checked) or a new one."""
        shape = (self.num_steps + 1, *x0.shape)
        if out is not None and (tuple(out.shape) != shape or out.dtype != x0.dtype or out.device != x0.device):
            raise ValueError(f"rollout: out must be a {x0.dtype} tensor of shape {shape} on {x0.device}, received "
                             f"{out.dtype} {tuple(out.shape)} on {out.device}")
        return torch.empty(shape, device=x0.device, dtype=x0.dtype) if out is None else out

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None, y: Tensor | None = None) -> Tensor:
        return self.rollout(n, generator, y=y).samples
