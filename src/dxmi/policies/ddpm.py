"""T-step policy from a pretrained DDPM epsilon-network on a T-step subsequence.

Step t (noise to data) is the DDPM posterior step of the subsequence chain (see
:mod:`dxmi.schedules.subsequence`):

    mu_theta(x_t, t) = (x_t - eta_t / sqrt(1 - alpha_hat_t) * eps_theta(x_t, k_t)) / sqrt(1 - eta_t).

The mean uses the chain's own coefficients; the learned sigma_t (initialised to the posterior std)
only scales the noise.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import TYPE_CHECKING

from torch import Tensor, nn

from dxmi.nets.conditioning import call, num_classes
from dxmi.policies.base import GaussianPolicy
from dxmi.schedules.subsequence import StepSchedule, make_subsequence

if TYPE_CHECKING:
    from dxmi.diffusion.ddpm import EpsilonModel


class DDPMSubsequencePolicy(GaussianPolicy):
    """``eps_net(x, k[, y])`` takes x (B, *S) and a float (B,) base index k (and labels y for a
    class-conditional network); it is fine-tuned."""

    coef_eps: Tensor
    coef_scale: Tensor
    timesteps: Tensor

    def __init__(self, eps_net: nn.Module, schedule: StepSchedule, sample_shape: Sequence[int],
                 fix_last: bool = True, init_scale: float = 1.0):
        super().__init__(sample_shape, schedule.sigma, fix_last=fix_last, init_scale=init_scale)
        self.eps_net = eps_net
        self.register_buffer("coef_eps", (schedule.eta / (1 - schedule.alpha_hat).sqrt()).float())
        self.register_buffer("coef_scale", (1 / (1 - schedule.eta).sqrt()).float())
        self.register_buffer("timesteps", schedule.timesteps.float())

    @classmethod
    def from_model(cls, model: EpsilonModel, num_steps: int, subsequence: str = "uniform",
                   last_sigma: float = 1e-3, fix_last: bool = True) -> DDPMSubsequencePolicy:
        """The T-step policy cut out of a pretrained DDPM by the ``subsequence`` rule; a copy of its
        epsilon-network (trainable, even when the model is a frozen EMA copy) is fine-tuned."""
        steps = make_subsequence(subsequence).build(model.schedule, num_steps, last_sigma=last_sigma)
        return cls(copy.deepcopy(model.eps_net).requires_grad_(True), steps, model.sample_shape, fix_last=fix_last)

    @property
    def num_classes(self) -> int:
        return num_classes(self.eps_net)

    def mean(self, x: Tensor, t: Tensor, y: Tensor | None = None) -> Tensor:
        eps = call(self.eps_net, x, self.timesteps[t], y=y)
        return self._bcast(self.coef_scale[t]) * (x - self._bcast(self.coef_eps[t]) * eps)

    def mean_gain(self) -> Tensor:
        """g_t = |d mu / d eps| = eta_t / (sqrt(1 - alpha_hat_t) sqrt(1 - eta_t))."""
        return (self.coef_scale * self.coef_eps).detach().cpu()

    def extra_repr(self) -> str:
        return f"T={self.num_steps}, fix_last={self.fix_last}"


