"""The two reference points: no memory at all, and the true context (the upper bound)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from dxmi.mate.memories.base import MemoryState, SequenceMemory, check_tokens


@dataclass
class EmptyState(MemoryState):
    """``batch``: the number of episodes (there is nothing else to keep)."""

    batch: int


@dataclass
class ContextState(MemoryState):
    """``context``: ``(B, c)`` the true context of each episode."""

    context: Tensor


class StaticMemory(SequenceMemory):
    """A memory that absorbs nothing: ``step`` checks the token and leaves the state as it is, so the
    output is ``read(state)`` at every step and there is nothing to reset at an episode start (a new
    episode's context, where there is one, comes with ``init_state``)."""

    def step(self, state: MemoryState, token: Tensor) -> tuple[Tensor, MemoryState]:
        self.check_step_token(token)
        return self.read(state), state

    def reset_rows(self, state: MemoryState, rows: Tensor) -> MemoryState:
        return state


class MemorylessMemory(StaticMemory):
    """Outputs a zero-width vector: the agent sees the current observation only."""

    anchor: Tensor

    def __init__(self, token_dim: int) -> None:
        super().__init__(token_dim)
        self.out_dim = 0
        self.register_buffer("anchor", torch.zeros(0), persistent=False)

    def init_state(self, batch_size: int, context: Tensor | None = None) -> EmptyState:
        return EmptyState(batch=batch_size)

    def read(self, state: MemoryState) -> Tensor:
        assert isinstance(state, EmptyState)
        return self.anchor.new_zeros(state.batch, 0)

    def forward(self, tokens: Tensor, episode_start_mask: Tensor,
                context: Tensor | None = None) -> Tensor:
        check_tokens(tokens, episode_start_mask, self.token_dim)
        return tokens.new_zeros(*tokens.shape[:2], 0)


class TrueContextMemory(StaticMemory):
    """Embeds the true context ``(B, c)`` with an MLP: memoryless plus the answer (upper bound)."""

    def __init__(self, token_dim: int, context_dim: int) -> None:
        super().__init__(token_dim)
        if context_dim <= 0:
            raise ValueError(f"true_context needs a task with a context; context_dim={context_dim}")
        self.context_dim = context_dim
        self.out_dim = token_dim
        self.net = nn.Sequential(nn.Linear(context_dim, token_dim), nn.LeakyReLU(),
                                 nn.Linear(token_dim, token_dim))

    def _check_context(self, context: Tensor | None, batch: int) -> Tensor:
        if context is None or context.dim() != 2 or context.shape != (batch, self.context_dim):
            got = None if context is None else tuple(context.shape)
            raise ValueError(f"true_context needs context (B, c) = {(batch, self.context_dim)}; "
                             f"got {got}")
        return context

    def init_state(self, batch_size: int, context: Tensor | None = None) -> ContextState:
        return ContextState(context=self._check_context(context, batch_size))

    def read(self, state: MemoryState) -> Tensor:
        assert isinstance(state, ContextState)
        return self.net(state.context)

    def forward(self, tokens: Tensor, episode_start_mask: Tensor,
                context: Tensor | None = None) -> Tensor:
        check_tokens(tokens, episode_start_mask, self.token_dim)
        ctx = self._check_context(context, tokens.shape[0])
        return self.net(ctx)[:, None].expand(-1, tokens.shape[1], -1)
