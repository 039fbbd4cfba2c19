"""Causal Transformer baseline with a preallocated key-value cache for rollout.

Rollout cost per step is ``O(t d)`` attention plus ``O(d^2)`` projections and the state is the
cache, ``O(t d)`` (preallocated to ``max_len`` so nothing is concatenated per step). Positions are
counted from the episode start (sinusoidal encoding), and attention never crosses an episode
start.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from dxmi.mate.memories.base import MemoryState, SequenceMemory, check_tokens, segment_starts


@dataclass
class KVState(MemoryState):
    """``keys``/``values``: ``(B, layers, heads, max_len, d/heads)``; ``start``: ``(B,)`` index
    of each row's episode start in the cache; ``length``: ``(1,)`` filled positions;
    ``last``: ``(B, d)`` the last output."""

    keys: Tensor
    values: Tensor
    start: Tensor
    length: Tensor
    last: Tensor


def sinusoid(positions: Tensor, width: int) -> Tensor:
    """Sinusoidal encoding ``(..., width)`` of integer ``positions`` ``(...)``."""
    half = width // 2
    freq = torch.exp(-math.log(10000.0) * torch.arange(half, device=positions.device) / half)
    ang = positions[..., None].float() * freq
    enc = torch.cat([ang.sin(), ang.cos()], dim=-1)
    return F.pad(enc, (0, width - 2 * half))


class Block(nn.Module):
    """Pre-LayerNorm attention block; ``attend`` takes queries and precomputed keys/values."""

    def __init__(self, width: int, heads: int) -> None:
        super().__init__()
        if width % heads:
            raise ValueError(f"width {width} must be divisible by heads {heads}")
        self.heads = heads
        self.ln1 = nn.LayerNorm(width)
        self.qkv = nn.Linear(width, 3 * width)
        self.proj = nn.Linear(width, width)
        self.ln2 = nn.LayerNorm(width)
        self.mlp = nn.Sequential(nn.Linear(width, 4 * width), nn.GELU(),
                                 nn.Linear(4 * width, width))

    def qkv_heads(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """``(B, T, d)`` -> three ``(B, heads, T, d/heads)``."""
        b, t, d = x.shape
        q, k, v = self.qkv(self.ln1(x)).split(d, dim=-1)
        shape = (b, t, self.heads, d // self.heads)
        return (q.view(shape).transpose(1, 2), k.view(shape).transpose(1, 2),
                v.view(shape).transpose(1, 2))

    def finish(self, x: Tensor, q: Tensor, k: Tensor, v: Tensor, mask: Tensor) -> Tensor:
        a = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        b, _, t, _ = a.shape
        x = x + self.proj(a.transpose(1, 2).reshape(b, t, -1))
        return x + self.mlp(self.ln2(x))


class TransformerMemory(SequenceMemory):
    """GPT-style causal Transformer over transition tokens.

    Args:
        token_dim: width ``d``.
        layers, heads: depth and number of attention heads.
        max_len: cache capacity (the longest episode it can roll out).
    """

    def __init__(self, token_dim: int, layers: int = 2, heads: int = 4,
                 max_len: int = 1024) -> None:
        super().__init__(token_dim)
        self.out_dim = token_dim
        self.max_len = max_len
        self.heads = heads
        self.blocks = nn.ModuleList(Block(token_dim, heads) for _ in range(layers))
        self.block_list: list[Block] = [b for b in self.blocks if isinstance(b, Block)]
        self.ln_out = nn.LayerNorm(token_dim)

    def init_state(self, batch_size: int, context: Tensor | None = None) -> KVState:
        p = self.ln_out.weight
        shape = (batch_size, len(self.blocks), self.heads, self.max_len,
                 self.token_dim // self.heads)
        return KVState(keys=p.new_zeros(shape), values=p.new_zeros(shape),
                       start=torch.zeros(batch_size, dtype=torch.long, device=p.device),
                       length=torch.zeros(1, dtype=torch.long, device=p.device),
                       last=p.new_zeros(batch_size, self.token_dim))

    def reset_rows(self, state: MemoryState, rows: Tensor) -> KVState:
        assert isinstance(state, KVState)
        start = torch.where(rows, state.length.expand_as(state.start), state.start)
        last = torch.where(rows[:, None], torch.zeros_like(state.last), state.last)
        return KVState(state.keys, state.values, start, state.length, last)

    def read(self, state: MemoryState) -> Tensor:
        assert isinstance(state, KVState)
        return state.last

    def step(self, state: MemoryState, token: Tensor) -> tuple[Tensor, KVState]:
        """Absorb one token; writes its keys/values at position ``length`` (in place)."""
        assert isinstance(state, KVState)
        self.check_step_token(token)
        t = int(state.length.item())
        if t >= self.max_len:
            raise ValueError(f"episode longer than the KV cache (max_len={self.max_len}); "
                             "raise memory_kwargs.max_len")
        x = (token + sinusoid(t - state.start, self.token_dim))[:, None]
        key_pos = torch.arange(t + 1, device=token.device)
        mask = (key_pos[None, :] >= state.start[:, None])[:, None, None, :]
        for i, block in enumerate(self.block_list):
            q, k, v = block.qkv_heads(x)
            state.keys[:, i, :, t] = k[:, :, 0]
            state.values[:, i, :, t] = v[:, :, 0]
            x = block.finish(x, q, state.keys[:, i, :, : t + 1], state.values[:, i, :, : t + 1],
                             mask)
        out = self.ln_out(x[:, 0])
        new = KVState(state.keys, state.values, state.start, state.length + 1, out)
        return out, new

    def forward(self, tokens: Tensor, episode_start_mask: Tensor,
                context: Tensor | None = None) -> Tensor:
        check_tokens(tokens, episode_start_mask, self.token_dim)
        b, t, _ = tokens.shape
        start = segment_starts(episode_start_mask)
        idx = torch.arange(t, device=tokens.device)
        x = tokens + sinusoid(idx[None] - start, self.token_dim)
        causal = idx[None, :] <= idx[:, None]
        same = start[:, :, None] == start[:, None, :]
        mask = (causal[None] & same)[:, None]
        for block in self.block_list:
            q, k, v = block.qkv_heads(x)
            x = block.finish(x, q, k, v, mask)
        return self.ln_out(x)
