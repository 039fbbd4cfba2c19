"""T-step policy from a pretrained DDPM epsilon-network on a T-step subsequence.

Step t (noise to data) goes from the chain state with alpha_hat_t to the next one with alpha_hat'_t
(1 after the last step; see :mod:`dxmi.schedules.subsequence`). With x0_hat = (x_t - sqrt(1 - alpha_hat_t)
eps_theta(x_t, k_t)) / sqrt(alpha_hat_t), the mean is the generalised (DDIM) step

    mu_theta(x_t, t) = sqrt(alpha_hat'_t) x0_hat + sqrt(1 - alpha_hat'_t - (lambda s_t)^2) eps_theta(x_t, k_t),

s_t the DDPM posterior std of the step and lambda = ``ddim_eta`` in [0, 1]. lambda = 1 is the DDPM
posterior mean (the paper's sampler), mu = (x_t - eta_t / sqrt(1 - alpha_hat_t) eps_theta) / sqrt(1 - eta_t);
lambda = 0 is the deterministic DDIM mean. The mean's coefficients are fixed tables; the learned
sigma_t (initialised to max(lambda s_t, ``last_sigma``), the last one to ``last_sigma``) only scales the
noise.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import TYPE_CHECKING

import torch
from torch import Tensor, nn

from dxmi.nets.conditioning import call, num_classes
from dxmi.policies.base import GaussianPolicy
from dxmi.schedules.subsequence import ExplicitIndices, StepSchedule, SubsequenceRule, make_subsequence

if TYPE_CHECKING:
    from dxmi.diffusion.ddpm import EpsilonModel


def ddim_tables(schedule: StepSchedule, ddim_eta: float = 1.0,
                min_sigma: float | None = None) -> tuple[Tensor, Tensor, Tensor]:
    """(a_t, b_t, sigma_t) of mu = a_t x + b_t eps with the DDIM-eta coefficients (float64, (T,) each).

    sigma_t = ddim_eta * s_t for t < T - 1 (s_t the posterior std), floored at ``min_sigma`` (default:
    the schedule's last sigma); the last entry is the schedule's last sigma."""
    if not 0.0 <= ddim_eta <= 1.0:
        raise ValueError(f"ddim_eta must be in [0, 1], got {ddim_eta}")
    ab = schedule.alpha_hat
    ab_next = ab / (1 - schedule.eta)  # the next (less noisy) state's alpha_hat; 1 after the last step
    post = schedule.sigma.clone()
    last = float(post[-1])
    post[-1] = 0.0  # the posterior std of the last step (to alpha_hat = 1) is 0
    lam_s = ddim_eta * post
    a = (ab_next / ab).sqrt()
    b = (1 - ab_next - lam_s**2).clamp_min(0).sqrt() - (ab_next * (1 - ab) / ab).sqrt()
    floor = last if min_sigma is None else min_sigma
    sigma = lam_s.clamp_min(floor)
    sigma[-1] = last
    return a, b, sigma


class DDPMSubsequencePolicy(GaussianPolicy):
    """``eps_net(x, k[, y])`` takes x (B, *S) and a float (B,) base index k (and labels y for a
    class-conditional network); it is fine-tuned. The mean is ``coef_scale_t (x - coef_eps_t eps)``."""

    coef_eps: Tensor
    coef_scale: Tensor
    timesteps: Tensor

    def __init__(self, eps_net: nn.Module, schedule: StepSchedule, sample_shape: Sequence[int],
                 fix_last: bool = True, init_scale: float = 1.0, ddim_eta: float = 1.0):
        a, b, sigma = ddim_tables(schedule, ddim_eta)
        super().__init__(sample_shape, sigma, fix_last=fix_last, init_scale=init_scale)
        self.eps_net = eps_net
        self.ddim_eta = ddim_eta
        self.register_buffer("coef_eps", (-b / a).float())
        self.register_buffer("coef_scale", a.float())
        self.register_buffer("timesteps", schedule.timesteps.float())

    @classmethod
    def from_model(cls, model: EpsilonModel, num_steps: int, subsequence: str = "uniform",
                   last_sigma: float = 1e-3, fix_last: bool = True, ddim_eta: float = 1.0) -> DDPMSubsequencePolicy:
        """The T-step policy cut out of a pretrained DDPM by the ``subsequence`` rule, or on the timesteps
        of a diffusers solver named ``"<solver>/<spacing>"`` (e.g. ``unipc/leading``: each solver has its
        own spacing formula); a copy of its epsilon-network (trainable, even when the model is a frozen
        EMA copy) is fine-tuned."""
        if "/" in subsequence:
            from dxmi.diffusion.solvers import solver_timesteps

            solver, spacing = subsequence.split("/", 1)
            rule: SubsequenceRule = ExplicitIndices(solver_timesteps(solver, model, num_steps, spacing))
        else:
            rule = make_subsequence(subsequence)
        steps = rule.build(model.schedule, num_steps, last_sigma=last_sigma)
        return cls(copy.deepcopy(model.eps_net).requires_grad_(True), steps, model.sample_shape, fix_last=fix_last,
                   ddim_eta=ddim_eta)

    @property
    def num_classes(self) -> int:
        return num_classes(self.eps_net)

    def mean(self, x: Tensor, t: Tensor, y: Tensor | None = None) -> Tensor:
        eps = call(self.eps_net, x, self.timesteps[t], y=y)
        return self._bcast(self.coef_scale[t]) * (x - self._bcast(self.coef_eps[t]) * eps)

    def mean_gain(self) -> Tensor:
        """g_t = |d mu / d eps| = |coef_scale_t coef_eps_t| (eta_t / (sqrt(1 - alpha_hat_t) sqrt(1 - eta_t))
        for the posterior mean)."""
        return torch.abs(self.coef_scale * self.coef_eps).detach().cpu()

    def extra_repr(self) -> str:
        return f"T={self.num_steps}, fix_last={self.fix_last}, ddim_eta={self.ddim_eta}"
