"""MATE: the memory of accumulated transition embeddings.

Why a sum suffices. In a contextual MDP with hidden context ``c`` fixed for an episode, the
posterior after transitions ``tau_0 .. tau_{t-1}`` is

    log p(c | h_t) = log p(c) + sum_{i<t} log p(tau_i | c) - log Z_t,

so it depends on the history only through the sum ``sum_i l_c(tau_i)`` with
``l_c(tau) = log p(s' , r | s, a, c)``: it is invariant to the order of the transitions. If the
embedding ``phi`` can represent the functions ``l_c`` linearly, the memory
``S_t = sum_{i<t} phi(tau_i)`` is a sufficient statistic (for a Bernoulli bandit, ``phi`` of the
``2K`` possible ``(arm, reward)`` transitions spans the per-arm success / failure counts, i.e. the
Beta posterior exactly; tested with a linear probe).

Output (reference design): ``m_t = (e_0 + sum_i w_i phi_i) / (1 + sum_i w_i)`` with a learnable
prior embedding ``e_0`` acting as one pseudo-transition, ``w_i = 1`` without the gate or
``w_i = 0.01 + 0.98 sigmoid(g(phi_i))`` in ``[0.01, 0.99]`` with it, then optionally projected
onto the sphere of radius ``sqrt(d)``. At ``t = 0`` the sum is zero and ``m_0`` is ``e_0``
(projected). Rollout state ``(S_t, W_t)``: ``O(d)`` scalars, one addition per step.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from dxmi.mate.memories.base import MemoryState, SequenceMemory, check_tokens, segmented_cumsum


@dataclass
class SumState(MemoryState):
    """``total``: ``(B, d)`` the weighted sum ``S_t``; ``weight``: ``(B, 1)`` ``W_t``."""

    total: Tensor
    weight: Tensor


def project_to_sphere(x: Tensor, radius: float, eps: float = 1e-6) -> Tensor:
    """``radius * x / ||x||`` along the last dimension (0 stays 0)."""
    return radius * x / x.norm(dim=-1, keepdim=True).clamp_min(eps)


class MATEMemory(SequenceMemory):
    """Running (optionally gated) mean of transition tokens; order-blind by construction.

    Args:
        token_dim: width ``d`` of the tokens (and of the output).
        project: project the output onto the sphere of radius ``sqrt(d)``.
        gate: learn per-transition weights ``w_i in [0.01, 0.99]`` (on by default: on the point
            robot the plain mean trailed the Transformer by 18 % after 300 rollouts, the gated one
            by 6 %; ``gate=False`` is the ungated running mean).
    """

    def __init__(self, token_dim: int, project: bool = True, gate: bool = True) -> None:
        super().__init__(token_dim)
        self.out_dim = token_dim
        self.project = project
        self.e0 = nn.Parameter(0.1 * torch.randn(token_dim))
        self.gate = (nn.Sequential(nn.Linear(token_dim, token_dim), nn.GELU(),
                                   nn.Linear(token_dim, 1)) if gate else None)

    def _weights(self, tokens: Tensor) -> Tensor:
        if self.gate is None:
            return torch.ones_like(tokens[..., :1])
        return 0.01 + 0.98 * torch.sigmoid(self.gate(tokens))

    def _output(self, total: Tensor, weight: Tensor) -> Tensor:
        mean = (self.e0 + total) / (1.0 + weight)
        return project_to_sphere(mean, math.sqrt(self.out_dim)) if self.project else mean

    def init_state(self, batch_size: int, context: Tensor | None = None) -> SumState:
        p = self.e0
        return SumState(total=p.new_zeros(batch_size, self.token_dim),
                        weight=p.new_zeros(batch_size, 1))

    def read(self, state: MemoryState) -> Tensor:
        assert isinstance(state, SumState)
        return self._output(state.total, state.weight)

    def step(self, state: MemoryState, token: Tensor) -> tuple[Tensor, SumState]:
        assert isinstance(state, SumState)
        self.check_step_token(token)
        w = self._weights(token)
        new = SumState(total=state.total + w * token, weight=state.weight + w)
        return self.read(new), new

    def forward(self, tokens: Tensor, episode_start_mask: Tensor,
                context: Tensor | None = None) -> Tensor:
        check_tokens(tokens, episode_start_mask, self.token_dim)
        w = self._weights(tokens)
        total = segmented_cumsum(w * tokens, episode_start_mask)
        weight = segmented_cumsum(w, episode_start_mask)
        return self._output(total, weight)
