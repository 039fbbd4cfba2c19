"""GCD: the same objective and machinery, with the policy-gradient sampler update.

The sampler minimises J = E_tau[ E(x_T) + sum_t (tau2 c_t - tau1 log sigma_t) ]. With
G_t = E(x_T) + sum_{k >= t} r_k the cost-to-go of a stored trajectory and the learned baseline
V(x_t, t), the REINFORCE estimator is

    grad J = E[ sum_t (G_t - V(x_t, t)) grad log pi(x_{t+1} | x_t) ] - tau1 sum_t grad log sigma_t,

the second term being the direct derivative of the entropy cost. This is what DxDP replaces with
the value gradient; keeping it here makes the two comparable on equal footing.
"""

from __future__ import annotations

import torch
from torch import Tensor

from dxmi.algorithms.dxmi import DxMI
from dxmi.records import Metrics
from dxmi.values.returns import monte_carlo_returns


class GCD(DxMI):
    name = "gcd"

    def sampler_loss(self) -> tuple[Tensor, Metrics]:
        cfg = self.config
        T, n = self.T, self.buffer.size
        s = self.buffer.states[:, :n]
        y0 = self.buffer.sample_labels  # (n,) labels of class-conditional chains, or None
        y = None if y0 is None else y0.repeat(T)  # per transition, t-major like x below
        with torch.no_grad():
            costs = torch.stack([
                self.running_cost(self.buffer.at(t), s[t + 1], cfg.sampler_skip_last_k)
                for t in range(T)])  # (T, n)
            terminal = self.cost_to_go(s[T], torch.full((n,), T, device=s.device), y0)
            to_go = monte_carlo_returns(costs, terminal)  # G_t = E(x_T) + sum_{k >= t} r_k
            tt = torch.arange(T, device=s.device).repeat_interleave(n)
            x = s[:T].reshape(T * n, *s.shape[2:])
            baseline = self.cost_to_go(x, tt, y).reshape(T, n)
            adv = to_go - baseline
        nx = s[1:].reshape(T * n, *s.shape[2:])
        mu = self.trained("policy")(x, tt, noise=torch.zeros_like(x), y=y).mean  # = policy.mean, gradient-synced
        log_pi = self.policy.log_prob_given_mean(nx, mu, tt).reshape(T, n)
        entropy_cost = -cfg.tau1 * self.policy.log_sigma.mean()
        loss = (adv * log_pi).mean() + entropy_cost
        return loss, Metrics.of(loss_sampler=loss, advantage_std=adv.std(), cost_to_go=to_go[0].mean())
