"""Value guidance at sampling time.

After each policy step, x_{t+1} <- x_{t+1} + lambda * sigma_t * grad_x V(x_{t+1}, t + 1).
Lower V is better in this package's sign convention, so lambda < 0 descends the value.
"""

from __future__ import annotations

import torch
from torch import Tensor

from dxmi.policies.base import GaussianPolicy
from dxmi.records import Trajectory
from dxmi.values.base import CostToGo


class ValueGuidedPolicy:
    """Wraps a trained policy and value for guided sampling (no training through it)."""

    def __init__(self, policy: GaussianPolicy, value: CostToGo, scale: float):
        self.policy = policy
        self.value = value
        self.scale = scale

    def rollout(self, n: int, generator: torch.Generator | None = None, y: Tensor | None = None) -> Trajectory:
        p = self.policy
        x = p.initial(n, generator)
        states = torch.empty((p.num_steps + 1, *x.shape), device=x.device, dtype=x.dtype)
        states[0] = x
        for t in range(p.num_steps):
            with torch.no_grad():
                step = p.step(x, t, generator, y=y)
            x = step.next_x
            if self.scale != 0.0:
                x = x + self.scale * p._bcast(step.sigma) * self._grad(x, t + 1, y)
            states[t + 1] = x
        return Trajectory(states=states, log_sigma=p.log_sigma.detach().clone(), labels=y)

    def _grad(self, x: Tensor, t: int, y: Tensor | None) -> Tensor:
        with torch.enable_grad():
            xg = x.detach().requires_grad_(True)
            tt = torch.full((x.shape[0],), t, dtype=torch.long, device=x.device)
            (g,) = torch.autograd.grad(self.value(xg, tt, y).sum(), xg)
        return g.detach()

    def sample(self, n: int, generator: torch.Generator | None = None, y: Tensor | None = None) -> Tensor:
        return self.rollout(n, generator, y).samples
