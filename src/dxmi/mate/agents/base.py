"""What SAC and Double DQN share: the encoder, its EMA target, the config, soft updates."""

from __future__ import annotations

import copy
from abc import ABC, abstractmethod
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from dxmi.mate.agents.encoder import Encoder
from dxmi.mate.replay import EpisodeBatch
from dxmi.nets.ema import ema_update
from dxmi.records import Metrics
from dxmi.validation import check_ranges


@dataclass(frozen=True)
class AgentConfig:
    """RL hyper-parameters (defaults follow the reference design where it fits CPU budgets).

    gamma: discount; lr: AdamW learning rate; grad_clip: max gradient norm; tau_encoder: EMA rate
    of the target memory head (0.001 in the reference); tau: EMA rate of the target heads;
    hidden: head MLP width; weight_decay: AdamW decay.
    """

    gamma: float = 0.99
    lr: float = 3e-4
    grad_clip: float = 5.0
    tau_encoder: float = 0.005
    tau: float = 0.005
    hidden: int = 128
    weight_decay: float = 0.0

    def __post_init__(self) -> None:
        check_ranges(self, fraction=("gamma", "tau_encoder", "tau"), at_least_one=("hidden",),
                     non_negative=("weight_decay",), positive=("grad_clip",))


def mlp(in_dim: int, hidden: int, out_dim: int) -> nn.Sequential:
    """Two hidden ReLU layers."""
    return nn.Sequential(nn.Linear(in_dim, hidden), nn.ReLU(), nn.Linear(hidden, hidden),
                         nn.ReLU(), nn.Linear(hidden, out_dim))


def soft_update(target: nn.Module, source: nn.Module, tau: float) -> None:
    """``target <- (1 - tau) target + tau source`` parameter-wise (an EMA with decay ``1 - tau``)."""
    ema_update(target, source, 1.0 - tau)


def masked_mean(x: Tensor, mask: Tensor) -> Tensor:
    return (x * mask).sum() / mask.sum().clamp_min(1.0)


class Agent(nn.Module, ABC):
    """An encoder (trained by the critic's TD loss only) plus heads.

    ``epsilon`` is the exploration rate set by the training loop (used by Double DQN).
    """

    def __init__(self, encoder: Encoder, config: AgentConfig) -> None:
        super().__init__()
        self.config = config
        self.encoder = encoder
        self.target_encoder = copy.deepcopy(encoder).requires_grad_(False)
        self.epsilon = 0.0

    @property
    def device(self) -> torch.device:
        """Where the agent's parameters live (move the agent with ``.to(device)``)."""
        return next(self.parameters()).device

    @abstractmethod
    def act(self, features: Tensor, explore: bool, generator: torch.Generator) -> Tensor:
        """Actions for features ``(B, F)``: ``(B,)`` long or ``(B, A)`` in [-1, 1]."""

    @abstractmethod
    def update(self, batch: EpisodeBatch) -> Metrics:
        """One gradient step on a batch of whole episodes."""

    def _clip_step(self, optimizer: torch.optim.Optimizer, loss: Tensor,
                   params: list[nn.Parameter]) -> Tensor:
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        norm = nn.utils.clip_grad_norm_(params, self.config.grad_clip)
        optimizer.step()
        return norm
