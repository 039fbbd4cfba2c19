"""Soft actor-critic over whole episodes (continuous actions in [-1, 1]^A).

Critic: twin ``Q_k(f_t, a_t)`` regressed on
``y_t = r_t + gamma (1 - terminated_t) (min_k Q'_k(f'_{t+1}, a') - alpha log pi(a' | f_{t+1}))``
with ``a' ~ pi(. | f_{t+1})``; the encoder learns from this loss only. The actor sees detached
features and maximises ``min_k Q_k(f_t, a) - alpha log pi(a | f_t)``; ``alpha`` is tuned to the
target entropy ``-A``. Policy: tanh-squashed Gaussian.
"""

from __future__ import annotations

import copy
import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from dxmi.mate.agents.base import Agent, AgentConfig, masked_mean, mlp, soft_update
from dxmi.mate.agents.encoder import Encoder
from dxmi.mate.replay import EpisodeBatch
from dxmi.records import Metrics


class TwinCritic(nn.Module):
    def __init__(self, in_dim: int, hidden: int) -> None:
        super().__init__()
        self.q1 = mlp(in_dim, hidden, 1)
        self.q2 = mlp(in_dim, hidden, 1)

    def forward(self, f: Tensor, a: Tensor) -> tuple[Tensor, Tensor]:
        x = torch.cat([f, a], dim=-1)
        return self.q1(x).squeeze(-1), self.q2(x).squeeze(-1)


class SAC(Agent):
    def __init__(self, encoder: Encoder, config: AgentConfig, action_dim: int) -> None:
        super().__init__(encoder, config)
        self.action_dim = action_dim
        self.actor = mlp(encoder.out_dim, config.hidden, 2 * action_dim)
        self.critic = TwinCritic(encoder.out_dim + action_dim, config.hidden)
        self.critic_target = copy.deepcopy(self.critic).requires_grad_(False)
        self.log_alpha = nn.Parameter(torch.tensor(math.log(0.1)))
        self.critic_params = list(self.encoder.parameters()) + list(self.critic.parameters())
        self.critic_opt = torch.optim.AdamW(self.critic_params, lr=config.lr,
                                            weight_decay=config.weight_decay)
        self.actor_opt = torch.optim.AdamW(self.actor.parameters(), lr=config.lr,
                                           weight_decay=config.weight_decay)
        self.alpha_opt = torch.optim.Adam([self.log_alpha], lr=config.lr)

    def policy(self, f: Tensor, generator: torch.Generator | None) -> tuple[Tensor, Tensor]:
        """Sample ``a = tanh(mu + sigma eps)`` and its log-density ``(...,)``.

        With a ``generator``, ``eps`` is drawn on the generator's device and moved to ``f``'s,
        so a seeded rollout draws the same noise on CPU and GPU; without one, on ``f``'s device.
        """
        mu, log_std = self.actor(f).chunk(2, dim=-1)
        log_std = log_std.clamp(-5.0, 2.0)
        if generator is None:
            eps = torch.randn(mu.shape, dtype=mu.dtype, device=mu.device)
        else:
            eps = torch.randn(mu.shape, generator=generator, dtype=mu.dtype,
                              device=generator.device).to(mu.device)
        u = mu + log_std.exp() * eps
        a = torch.tanh(u)
        logp = (-0.5 * eps.pow(2) - log_std - 0.5 * math.log(2 * math.pi)).sum(-1)
        logp = logp - (2 * (math.log(2.0) - u - F.softplus(-2 * u))).sum(-1)
        return a, logp

    def act(self, features: Tensor, explore: bool, generator: torch.Generator) -> Tensor:
        if explore:
            return self.policy(features, generator)[0]
        mu, _ = self.actor(features).chunk(2, dim=-1)
        return torch.tanh(mu)

    def update(self, batch: EpisodeBatch) -> Metrics:
        cfg = self.config
        alpha = self.log_alpha.exp().detach()
        f = self.encoder.sequence(batch)
        fd = f.detach()
        valid = batch.valid
        with torch.no_grad():
            f_targ = self.target_encoder.sequence(batch)
            a_next, logp_next = self.policy(fd[:, 1:], None)
            q1_t, q2_t = self.critic_target(f_targ[:, 1:], a_next)
            y = batch.rewards + cfg.gamma * (1.0 - batch.terminated) * (
                torch.min(q1_t, q2_t) - alpha * logp_next)
        q1, q2 = self.critic(f[:, :-1], batch.actions)
        critic_loss = masked_mean((q1 - y).pow(2) + (q2 - y).pow(2), valid)
        self._clip_step(self.critic_opt, critic_loss, self.critic_params)

        a_pi, logp = self.policy(fd[:, :-1], None)
        self.critic.requires_grad_(False)
        q1_pi, q2_pi = self.critic(fd[:, :-1], a_pi)
        self.critic.requires_grad_(True)
        actor_loss = masked_mean(alpha * logp - torch.min(q1_pi, q2_pi), valid)
        self._clip_step(self.actor_opt, actor_loss, list(self.actor.parameters()))

        alpha_loss = -masked_mean(self.log_alpha * (logp.detach() - self.action_dim), valid)
        self.alpha_opt.zero_grad(set_to_none=True)
        alpha_loss.backward()
        self.alpha_opt.step()

        soft_update(self.critic_target, self.critic, cfg.tau)
        soft_update(self.target_encoder, self.encoder, cfg.tau_encoder)
        return Metrics.of(critic_loss=critic_loss, actor_loss=actor_loss, alpha=alpha,
                          entropy=-masked_mean(logp.detach(), valid))
