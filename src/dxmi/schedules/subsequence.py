"""T-step chains built on a subsequence of a base diffusion schedule.

A T-step chain is given by generalised betas eta_s, s = 0..T-1 counted from the *data* side, with
alpha_hat_s = prod_{i <= s} (1 - eta_i). Chain state s has marginal
N(sqrt(alpha_hat_s) x_data, (1 - alpha_hat_s) I); it is fed to the base epsilon-network at the
continuous base index k_s with alpha_bar(k_s) = alpha_hat_s.

In the sampler's time convention (t = 0 is noise, t = T is the sample) the step t: x_t -> x_{t+1}
is the reverse of chain step s = T - 1 - t. The DDPM posterior step of that chain is

    mu(x_t) = (x_t - eta_s / sqrt(1 - alpha_hat_s) * eps(x_t, k_s)) / sqrt(1 - eta_s),
    sigma_t^2 = eta_s (1 - alpha_hat_{s-1}) / (1 - alpha_hat_s)         (alpha_hat_{-1} = 1),

and the last step's sigma (s = 0, which is 0 in the posterior) is replaced by a small constant.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from dxmi.io import summarise_values
from dxmi.schedules.discrete import DiscreteSchedule


@dataclass(frozen=True)
class StepSchedule:
    """Coefficient tables of a T-step chain, indexed by the sampler's step t = 0..T-1 (noise to
    data). All tables are float64.

    Attributes:
        eta: ``(T,)`` generalised beta of step t.
        alpha_hat: ``(T,)`` alpha_hat of the *input* state x_t.
        timesteps: ``(T,)`` continuous base index k fed to the epsilon-network at step t.
        sigma: ``(T,)`` posterior std of step t (last entry set to ``last_sigma``).
    """

    eta: Tensor
    alpha_hat: Tensor
    timesteps: Tensor
    sigma: Tensor

    @property
    def num_steps(self) -> int:
        return len(self.eta)

    @classmethod
    def from_eta(cls, eta_data_side: Tensor, base: DiscreteSchedule,
                 last_sigma: float = 1e-3) -> StepSchedule:
        """Build the tables from generalised betas listed from the data side (s = 0..T-1)."""
        eta = torch.as_tensor(eta_data_side, dtype=torch.float64)
        if eta.ndim != 1:
            raise ValueError(f"eta must be a 1-D table in (0, 1), got shape {tuple(eta.shape)}")
        bad = ~((eta > 0) & (eta < 1))
        if bool(bad.any()):
            i = int(bad.nonzero()[0, 0])
            raise ValueError(f"eta must be a 1-D table in (0, 1): {int(bad.sum())} of {len(eta)} entries are not "
                             f"(entry {i}: {float(eta[i]):.6g}); eta = {summarise_values(eta.tolist())}")
        alpha_hat = torch.cumprod(1 - eta, dim=0)
        prev = torch.cat([torch.ones(1, dtype=torch.float64), alpha_hat[:-1]])
        var = eta * (1 - prev) / (1 - alpha_hat)
        sigma = var.sqrt()
        sigma[0] = last_sigma
        k = base.continuous_index(alpha_hat)
        flip = lambda a: torch.flip(a, dims=[0])  # noqa: E731 - data side -> noise side
        return cls(eta=flip(eta), alpha_hat=flip(alpha_hat), timesteps=flip(k), sigma=flip(sigma))


class SubsequenceRule:
    """How a T-step chain is cut out of a base schedule. Subclasses implement :meth:`eta`."""

    name = "base"

    def eta(self, base: DiscreteSchedule, num_steps: int) -> Tensor:
        raise NotImplementedError

    def build(self, base: DiscreteSchedule, num_steps: int, last_sigma: float = 1e-3) -> StepSchedule:
        if num_steps < 1:
            raise ValueError(f"num_steps must be >= 1, got {num_steps}")
        return StepSchedule.from_eta(self.eta(base, num_steps), base, last_sigma=last_sigma)


class FastDPMQuadratic(SubsequenceRule):
    """FastDPM's "VAR" quadratic rule: eta_i = beta_0 (1 + i x)^2, i = 0..T-1, with x found by
    bisection (float64) so that prod_i (1 - eta_i) = alpha_bar_{N-1}, x capped at ``x_max``.

    When the cap binds (T = 10 on DDPM's linear schedule: x = 9.5, prod = 0.0208) the chain starts
    at a truncated noise level; float32 bisection gives wrong steps, so everything is float64.
    """

    name = "fastdpm_quadratic"

    def __init__(self, x_max: float = 9.5, iters: int = 200):
        self.x_max = x_max
        self.iters = iters

    def eta(self, base: DiscreteSchedule, num_steps: int) -> Tensor:
        beta0 = float(base.betas[0])
        target = float(base.alpha_bar[-1])
        i = torch.arange(num_steps, dtype=torch.float64)

        def prod(x: float) -> float:
            return float(torch.prod(1 - beta0 * (1 + i * x) ** 2))

        lo, hi = 0.0, self.x_max
        # prod(x) decreases in x; if even the cap leaves prod above the target, the cap binds.
        if prod(hi) >= target:
            x = hi
        else:
            for _ in range(self.iters):
                mid = 0.5 * (lo + hi)
                if prod(mid) > target:
                    lo = mid
                else:
                    hi = mid
            x = 0.5 * (lo + hi)
        return beta0 * (1 + i * x) ** 2


class IndexSubsequence(SubsequenceRule):
    """A chain on T integer base indices k_0 < ... < k_{T-1} (listed from the data side), with
    eta_s = 1 - alpha_bar_{k_s} / alpha_bar_{k_{s-1}} (alpha_bar_{k_{-1}} = 1): state s is exactly the
    base model's state k_s. Subclasses implement :meth:`indices`."""

    def indices(self, n: int, num_steps: int) -> list[int]:
        raise NotImplementedError

    def eta(self, base: DiscreteSchedule, num_steps: int) -> Tensor:
        ks = torch.tensor(self.indices(base.num_steps, num_steps))
        if len(ks) != num_steps or bool((ks[1:] <= ks[:-1]).any()) or int(ks[0]) < 0 or int(ks[-1]) >= base.num_steps:
            raise ValueError(f"{self.name}: {num_steps} steps on {base.num_steps} base indices give indices "
                             f"{summarise_values(ks.tolist())}, not {num_steps} distinct ones in "
                             f"0..{base.num_steps - 1}")
        ab = base.alpha_bar[ks]
        prev = torch.cat([torch.ones(1, dtype=torch.float64), ab[:-1]])
        return 1 - ab / prev


class ExplicitIndices(IndexSubsequence):
    """Given base indices (any order; e.g. the timesteps of a diffusers solver)."""

    name = "explicit"

    def __init__(self, indices: list[int]):
        self.ks = sorted(int(k) for k in indices)

    def indices(self, n: int, num_steps: int) -> list[int]:
        return self.ks


class UniformSubsequence(IndexSubsequence):
    """Evenly spaced base indices k_s = round((s + 1) (N - 1) / T), ending at N - 1: the chain starts
    at the base model's full noise level (the DDIM-style choice)."""

    name = "uniform"

    def indices(self, n: int, num_steps: int) -> list[int]:
        return [round((s + 1) * (n - 1) / num_steps) for s in range(num_steps)]


class LeadingSubsequence(IndexSubsequence):
    """diffusers' ``leading`` spacing: k_s = s floor(N / T), from k_0 = 0; the chain starts at
    k = (T - 1) floor(N / T), below the full noise level (x_0 ~ N(0, I) is then a slight mismatch that
    few-step chains gain from)."""

    name = "leading"

    def indices(self, n: int, num_steps: int) -> list[int]:
        return [s * (n // num_steps) for s in range(num_steps)]


class TrailingSubsequence(IndexSubsequence):
    """diffusers' ``trailing`` spacing: k = round(N - j N / T) - 1, j = 0..T-1, from N - 1 down."""

    name = "trailing"

    def indices(self, n: int, num_steps: int) -> list[int]:
        return sorted(round(n - j * n / num_steps) - 1 for j in range(num_steps))


class LinspaceSubsequence(IndexSubsequence):
    """diffusers' ``linspace`` spacing: T indices evenly from 0 to N - 1 (rounded)."""

    name = "linspace"

    def indices(self, n: int, num_steps: int) -> list[int]:
        return [int(v) for v in torch.linspace(0, n - 1, num_steps, dtype=torch.float64).round().tolist()]


SUBSEQUENCES: dict[str, type[SubsequenceRule]] = {
    FastDPMQuadratic.name: FastDPMQuadratic,
    UniformSubsequence.name: UniformSubsequence,
    LeadingSubsequence.name: LeadingSubsequence,
    TrailingSubsequence.name: TrailingSubsequence,
    LinspaceSubsequence.name: LinspaceSubsequence,
}


def make_subsequence(name: str) -> SubsequenceRule:
    if name not in SUBSEQUENCES:
        raise ValueError(f"unknown subsequence rule {name!r}; choose from {sorted(SUBSEQUENCES)}")
    return SUBSEQUENCES[name]()


