"""A T-step Gaussian sampler trained from scratch (no pretrained diffusion model).

    mu_theta(x_t, t) = x_t + f_theta(x_t, t),     pi_theta(x_{t+1} | x_t) = N(mu_theta(x_t, t), sigma_t^2 I),

with f_theta a time-conditioned MLP whose output layer starts at zero, so that the untrained
sampler is a Gaussian random walk from x_0 ~ N(0, s_0^2 I) (for standardised data, a sensible
start). Used by the anomaly detector, whose inputs have no pretrained generator.
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn

from dxmi.nets.mlp import TimeMLP
from dxmi.policies.base import GaussianPolicy


class ResidualMLPPolicy(GaussianPolicy):
    """Vectors of dimension ``dim``; ``init_sigma`` is the (T,) table of initial step stds."""

    def __init__(self, dim: int, init_sigma: Sequence[float], hidden: int = 128, depth: int = 2,
                 fix_last: bool = True, init_scale: float = 1.0):
        super().__init__((dim,), list(init_sigma), fix_last=fix_last, init_scale=init_scale)
        self.net = TimeMLP(dim, dim, hidden=hidden, depth=depth, time_dim=32, time_scale=1.0)
        nn.init.zeros_(self.net.out.weight)
        nn.init.zeros_(self.net.out.bias)

    def mean(self, x: Tensor, t: Tensor, y: Tensor | None = None) -> Tensor:
        return x + self.net(x, t.float())  # unconditional: check_input refuses labels

    def extra_repr(self) -> str:
        return f"T={self.num_steps}, fix_last={self.fix_last}"
