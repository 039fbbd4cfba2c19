"""Double DQN over whole episodes (discrete actions).

Loss: Huber between ``Q(f_t, a_t)`` and
``y_t = r_t + gamma (1 - terminated_t) Q_target(f'_{t+1}, argmax_a Q(f_{t+1}, a))``
where ``f`` are the online features and ``f'`` those of the EMA target encoder; averaged over
valid steps. The encoder is trained through this loss.
"""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import Tensor

from dxmi.mate.agents.base import Agent, AgentConfig, masked_mean, mlp, soft_update
from dxmi.mate.agents.encoder import Encoder
from dxmi.mate.replay import EpisodeBatch
from dxmi.records import Metrics


class DoubleDQN(Agent):
    def __init__(self, encoder: Encoder, config: AgentConfig, num_actions: int) -> None:
        super().__init__(encoder, config)
        self.num_actions = num_actions
        self.q = mlp(encoder.out_dim, config.hidden, num_actions)
        self.q_target = copy.deepcopy(self.q).requires_grad_(False)
        self.params = list(self.encoder.parameters()) + list(self.q.parameters())
        self.optimizer = torch.optim.AdamW(self.params, lr=config.lr,
                                           weight_decay=config.weight_decay)

    def act(self, features: Tensor, explore: bool, generator: torch.Generator) -> Tensor:
        greedy = self.q(features).argmax(dim=-1)
        if not explore or self.epsilon <= 0.0:
            return greedy
        b, dev = features.shape[0], generator.device  # draws on the generator's device
        rand = torch.randint(self.num_actions, (b,), generator=generator, device=dev)
        use_rand = torch.rand(b, generator=generator, device=dev) < self.epsilon
        return torch.where(use_rand.to(greedy.device), rand.to(greedy.device), greedy)

    def update(self, batch: EpisodeBatch) -> Metrics:
        cfg = self.config
        f = self.encoder.sequence(batch)
        q_all = self.q(f)
        q = q_all[:, :-1].gather(-1, batch.actions[..., None]).squeeze(-1)
        with torch.no_grad():
            best = q_all[:, 1:].argmax(dim=-1, keepdim=True)
            f_targ = self.target_encoder.sequence(batch)
            q_next = self.q_target(f_targ[:, 1:]).gather(-1, best).squeeze(-1)
            y = batch.rewards + cfg.gamma * (1.0 - batch.terminated) * q_next
        loss = masked_mean(F.smooth_l1_loss(q, y, reduction="none"), batch.valid)
        norm = self._clip_step(self.optimizer, loss, self.params)
        soft_update(self.q_target, self.q, cfg.tau)
        soft_update(self.target_encoder, self.encoder, cfg.tau_encoder)
        return Metrics.of(td_loss=loss, q_mean=masked_mean(q.detach(), batch.valid),
                          grad_norm=norm)
