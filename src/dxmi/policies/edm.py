"""T-step Euler-ancestral policy from an EDM denoiser (ImageNet-64 / LSUN in the paper).

Step t (noise to data) goes from sigma_t to sigma_{t+1} (Karras levels,
:class:`dxmi.schedules.KarrasSchedule`):

    mu_theta(x_t, t) = x_t + (x_t - D_theta(x_t; sigma_t)) / sigma_t * (sigma_down_t - sigma_t),

and the policy's learnable std (initialised to sigma_up_t; ``fix_last`` keeps the last one) scales
the injected noise; x_0 = sigma_max N(0, I). D is the preconditioned denoiser
(:class:`dxmi.diffusion.EDMDenoiser`, sigma_data 0.5), whose network is fine-tuned.
"""

from __future__ import annotations

from torch import Tensor

from dxmi.diffusion.edm import EDMDenoiser
from dxmi.policies.base import GaussianPolicy
from dxmi.schedules.karras import KarrasSchedule


class EDMPolicy(GaussianPolicy):
    """Euler-ancestral T-step sampler; a zero sigma_up (the deterministic last step of rho-7
    schedules) becomes ``last_sigma`` so that the step stays a proper Gaussian."""

    sigmas: Tensor
    sigma_down: Tensor

    def __init__(self, denoiser: EDMDenoiser, schedule: KarrasSchedule, fix_last: bool = True,
                 last_sigma: float = 1e-3):
        init = schedule.sigma_up.clamp_min(last_sigma).float()
        super().__init__(denoiser.sample_shape, init, fix_last=fix_last, init_scale=float(schedule.sigmas[0]))
        self.denoiser = denoiser
        self.register_buffer("sigmas", schedule.sigmas.float())
        self.register_buffer("sigma_down", schedule.sigma_down.float())

    @property
    def num_classes(self) -> int:
        return self.denoiser.num_classes

    def mean(self, x: Tensor, t: Tensor, y: Tensor | None = None) -> Tensor:
        s = self.sigmas[t]
        d = self.denoiser(x, s, y)
        return x + (x - d) / self._bcast(s) * self._bcast(self.sigma_down[t] - s)

    def mean_gain(self) -> Tensor:
        """g_t = |d mu / d F| = c_out(sigma_t) (sigma_t - sigma_down_t) / sigma_t."""
        s = self.sigmas[:-1]
        _, c_out, _, _ = self.denoiser.coefficients(s)
        return (c_out * (s - self.sigma_down) / s).detach().cpu()

    def extra_repr(self) -> str:
        return f"T={self.num_steps}, sigma_max={float(self.sigmas[0]):g}, fix_last={self.fix_last}"
