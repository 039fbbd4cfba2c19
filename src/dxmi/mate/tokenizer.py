"""Transition tokens and the embedders shared by every memory type.

A transition ``(o, a, r, o')`` becomes the raw vector ``x = concat(o, a, r, o')`` (``a`` one-hot
when discrete) of width ``2 * obs_dim + action_width + 1``, then ``phi(x)`` of width ``d``: a
linear map, LeakyReLU, then pre-LayerNorm residual MLP blocks (``d -> 4d -> d``, GELU, dropout).
The current observation gets its own embedder of the same form, projected onto the sphere of
radius ``sqrt(d)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from dxmi.mate.memories.mate import project_to_sphere


@dataclass(frozen=True)
class ActionSpec:
    """Action space of a task: ``discrete`` with ``n`` choices, or ``dim`` reals in [-1, 1]."""

    discrete: bool
    n: int = 0
    dim: int = 0

    def __post_init__(self) -> None:
        if self.discrete and self.n < 2:
            raise ValueError(f"a discrete action space needs n >= 2; got n={self.n}")
        if not self.discrete and self.dim < 1:
            raise ValueError(f"a continuous action space needs dim >= 1; got dim={self.dim}")

    @property
    def width(self) -> int:
        """Width of the action inside a token (one-hot size or ``dim``)."""
        return self.n if self.discrete else self.dim


class ResidualBlock(nn.Module):
    """``x + W2 dropout(GELU(W1 LayerNorm(x)))`` with ``W1: d -> 4d``, ``W2: 4d -> d``."""

    def __init__(self, width: int, dropout: float) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.LayerNorm(width), nn.Linear(width, 4 * width), nn.GELU(),
                                 nn.Dropout(dropout), nn.Linear(4 * width, width))

    def forward(self, x: Tensor) -> Tensor:
        return x + self.net(x)


class ResidualMLP(nn.Module):
    """``in_dim -> width``: Linear, LeakyReLU, ``blocks`` residual blocks."""

    def __init__(self, in_dim: int, width: int, blocks: int = 1, dropout: float = 0.0) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(in_dim, width), nn.LeakyReLU(),
                                 *(ResidualBlock(width, dropout) for _ in range(blocks)))

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)


class Tokenizer(nn.Module):
    """Embeds transitions (for the memory) and observations (for the heads).

    Args:
        obs_dim: observation width ``o``.
        action: the task's :class:`ActionSpec`.
        width: token width ``d``.
        blocks: residual blocks in each embedder.
        dropout: dropout inside the residual blocks.
    """

    def __init__(self, obs_dim: int, action: ActionSpec, width: int, blocks: int = 1,
                 dropout: float = 0.0) -> None:
        super().__init__()
        self.obs_dim = obs_dim
        self.action = action
        self.width = width
        self.raw_dim = 2 * obs_dim + action.width + 1
        self.transition = ResidualMLP(self.raw_dim, width, blocks, dropout)
        self.observation = ResidualMLP(obs_dim, width, blocks, dropout)

    def raw(self, obs: Tensor, action: Tensor, reward: Tensor, next_obs: Tensor) -> Tensor:
        """``(*, o), (*,) long | (*, A), (*,), (*, o)`` -> raw tokens ``(*, raw_dim)``."""
        if obs.shape[-1] != self.obs_dim or next_obs.shape != obs.shape:
            raise ValueError(f"obs/next_obs must be (*, {self.obs_dim}); got "
                             f"{tuple(obs.shape)} and {tuple(next_obs.shape)}")
        lead = obs.shape[:-1]
        if self.action.discrete:
            if action.shape != lead:
                raise ValueError(f"discrete actions must be {tuple(lead)} long; "
                                 f"got {tuple(action.shape)}")
            a = F.one_hot(action.long(), self.action.n).to(obs.dtype)
        else:
            if action.shape != (*lead, self.action.dim):
                raise ValueError(f"actions must be {(*lead, self.action.dim)}; "
                                 f"got {tuple(action.shape)}")
            a = action.to(obs.dtype)
        if reward.shape != lead:
            raise ValueError(f"rewards must be {tuple(lead)}; got {tuple(reward.shape)}")
        return torch.cat([obs, a, reward[..., None].to(obs.dtype), next_obs], dim=-1)

    def tokens(self, obs: Tensor, action: Tensor, reward: Tensor, next_obs: Tensor) -> Tensor:
        """Transition tokens ``phi(x)``: ``(*, d)``."""
        return self.transition(self.raw(obs, action, reward, next_obs))

    def embed_obs(self, obs: Tensor) -> Tensor:
        """Observation embedding ``(*, o) -> (*, d)`` on the sphere of radius ``sqrt(d)``."""
        return project_to_sphere(self.observation(obs), math.sqrt(self.width))
