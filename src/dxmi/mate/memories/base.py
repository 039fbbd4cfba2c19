"""The sequence-memory interface shared by MATE and its baselines.

Shapes: ``B`` episodes in a batch, ``T`` transitions, ``d`` the token width (the output of the
shared :class:`~dxmi.mate.tokenizer.Tokenizer`), ``m`` = ``out_dim`` the memory output width.

Two ways to run a memory, which must agree (tested):

* rollout: ``state = init_state(B)``; ``m_0 = read(state)``; then for every transition token
  ``out, state = step(state, token)``, where ``out`` is the memory *after* absorbing ``token``;
* training: ``forward(tokens, episode_start_mask)`` returns ``(B, T, m)`` with ``out[:, t]`` the
  memory after absorbing ``tokens[:, s..t]``, ``s`` the last episode start at or before ``t``.
"""

from __future__ import annotations

import dataclasses
from abc import ABC, abstractmethod
from dataclasses import dataclass

import torch
from torch import Tensor, nn


@dataclass
class MemoryState:
    """Base of the per-memory rollout states (each variant adds its tensors as fields).

    Convention: every tensor field has the batch dimension first.
    """

    def tensors(self) -> list[Tensor]:
        """All tensor fields (used to measure the state size)."""
        out = []
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            if isinstance(v, Tensor):
                out.append(v)
        return out

    def numel(self) -> int:
        """Number of scalars the state holds (O(d) for MATE/RNN, O(t d) for the KV cache)."""
        return sum(t.numel() for t in self.tensors())


def check_tokens(tokens: Tensor, episode_start_mask: Tensor, width: int) -> None:
    """Raise a clear error unless ``tokens`` is ``(B, T, width)`` and the mask ``(B, T)`` bool."""
    if tokens.dim() != 3 or tokens.shape[-1] != width:
        raise ValueError(f"tokens must be (B, T, {width}); got {tuple(tokens.shape)}")
    if episode_start_mask.shape != tokens.shape[:2] or episode_start_mask.dtype != torch.bool:
        raise ValueError(
            f"episode_start_mask must be bool (B, T) = {tuple(tokens.shape[:2])}; got "
            f"{episode_start_mask.dtype} {tuple(episode_start_mask.shape)}")


def segment_starts(episode_start_mask: Tensor) -> Tensor:
    """Index of the last episode start at or before each position, ``(B, T)`` long.

    Position 0 always counts as a start (a row never continues an unseen episode).
    """
    b, t = episode_start_mask.shape
    starts = episode_start_mask.clone()
    starts[:, 0] = True
    idx = torch.arange(t, device=starts.device).expand(b, t)
    return torch.where(starts, idx, torch.zeros_like(idx)).cummax(dim=1).values


def segmented_cumsum(x: Tensor, episode_start_mask: Tensor) -> Tensor:
    """Inclusive prefix sum of ``x`` ``(B, T, ...)`` along ``T`` that restarts at episode starts.

    ``out[:, t] = sum_{i = s(t)}^{t} x[:, i]`` with ``s(t)`` the last start ``<= t``. One global
    cumsum minus the exclusive prefix at the segment start: O(T) work, parallel over ``T``.
    Accumulates in float64 so long sums keep float32 accuracy after the subtraction.
    """
    b, t = episode_start_mask.shape
    if x.shape[:2] != (b, t):
        raise ValueError(f"x must be (B, T, ...) = {(b, t)}; got {tuple(x.shape)}")
    acc = x.double() if x.dtype == torch.float32 else x
    inclusive = acc.cumsum(dim=1)
    exclusive = inclusive - acc
    last = segment_starts(episode_start_mask)
    index = last.view(b, t, *([1] * (x.dim() - 2))).expand_as(x)
    return (inclusive - exclusive.gather(1, index)).to(x.dtype)


class SequenceMemory(nn.Module, ABC):
    """A memory over transition tokens ``(B, T, token_dim)`` -> outputs ``(B, T, out_dim)``.

    Subclasses define the state record, ``init_state``, ``read``, ``step`` and ``forward``.
    ``context`` is only used by :class:`TrueContextMemory` (the upper bound); the others ignore
    it.
    """

    out_dim: int

    def __init__(self, token_dim: int) -> None:
        super().__init__()
        self.token_dim = token_dim

    @abstractmethod
    def init_state(self, batch_size: int, context: Tensor | None = None) -> MemoryState:
        """The empty memory for ``batch_size`` new episodes (``context``: ``(B, c)``)."""

    @abstractmethod
    def read(self, state: MemoryState) -> Tensor:
        """The memory output ``(B, out_dim)`` for the transitions absorbed so far."""

    @abstractmethod
    def step(self, state: MemoryState, token: Tensor) -> tuple[Tensor, MemoryState]:
        """Absorb one token ``(B, token_dim)``; return ``(read(new_state), new_state)``."""

    @abstractmethod
    def forward(self, tokens: Tensor, episode_start_mask: Tensor,
                context: Tensor | None = None) -> Tensor:
        """Training pass: ``(B, T, token_dim)`` -> ``(B, T, out_dim)`` (inclusive, segmented)."""

    def check_step_token(self, token: Tensor) -> None:
        if token.dim() != 2 or token.shape[-1] != self.token_dim:
            raise ValueError(f"token must be (B, {self.token_dim}); got {tuple(token.shape)}")

    def reset_rows(self, state: MemoryState, rows: Tensor) -> MemoryState:
        """Return ``state`` with the rows where ``rows`` ``(B,)`` is True back at the start."""
        fresh = self.init_state(rows.shape[0])
        values = {}
        for f in dataclasses.fields(state):
            old, new = getattr(state, f.name), getattr(fresh, f.name)
            if isinstance(old, Tensor) and isinstance(new, Tensor) and old.shape == new.shape:
                shape = [rows.shape[0]] + [1] * (old.dim() - 1)
                values[f.name] = torch.where(rows.view(shape), new, old)
            else:
                values[f.name] = old
        return dataclasses.replace(state, **values)
