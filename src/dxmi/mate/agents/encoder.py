"""The memory head shared by actor and critic: tokenizer + sequence memory.

Features for the heads at step ``t`` are ``f_t = concat(embed(o_t), m_t)`` where ``m_t`` is the
memory over the transitions ``tau_0 .. tau_{t-1}`` of the episode (``m_0`` the empty memory).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from dxmi.mate.memories import MemoryState, build_memory
from dxmi.mate.replay import EpisodeBatch
from dxmi.mate.tokenizer import ActionSpec, Tokenizer


class Encoder(nn.Module):
    """Tokenizer and memory; ``out_dim = width + memory.out_dim``.

    Args:
        obs_dim, action, context_dim: task sizes.
        memory: a name in :data:`dxmi.mate.memories.MEMORIES`.
        width: token width ``d``; blocks, dropout: embedder options.
        memory_kwargs: passed to the memory class.
    """

    def __init__(self, obs_dim: int, action: ActionSpec, context_dim: int, memory: str,
                 width: int = 64, blocks: int = 1, dropout: float = 0.0,
                 memory_kwargs: dict[str, Any] | None = None) -> None:
        super().__init__()
        self.tokenizer = Tokenizer(obs_dim, action, width, blocks, dropout)
        self.memory = build_memory(memory, width, context_dim, **(memory_kwargs or {}))
        self.out_dim = width + self.memory.out_dim

    def sequence(self, batch: EpisodeBatch) -> Tensor:
        """Features ``(B, T + 1, out_dim)`` for ``o_0 .. o_T`` of whole episodes."""
        obs = batch.obs
        tokens = self.tokenizer.tokens(obs[:, :-1], batch.actions, batch.rewards, obs[:, 1:])
        b, t, _ = tokens.shape
        start = torch.zeros(b, t, dtype=torch.bool, device=obs.device)
        start[:, 0] = True
        mem = self.memory(tokens, start, batch.context)
        m0 = self.memory.read(self.memory.init_state(b, batch.context))
        mem = torch.cat([m0[:, None], mem], dim=1)
        return torch.cat([self.tokenizer.embed_obs(obs), mem], dim=-1)

    def begin(self, batch_size: int, context: Tensor) -> tuple[Tensor, MemoryState]:
        """Empty memory for new episodes: ``(m_0 (B, m), state)``."""
        state = self.memory.init_state(batch_size, context)
        return self.memory.read(state), state

    def absorb(self, state: MemoryState, obs: Tensor, action: Tensor, reward: Tensor,
               next_obs: Tensor) -> tuple[Tensor, MemoryState]:
        """One transition per row -> ``(m_{t+1}, state)``."""
        return self.memory.step(state, self.tokenizer.tokens(obs, action, reward, next_obs))

    def features(self, obs: Tensor, memory_out: Tensor) -> Tensor:
        """``(B, o), (B, m)`` -> ``(B, out_dim)``."""
        return torch.cat([self.tokenizer.embed_obs(obs), memory_out], dim=-1)
