"""LSTM and GRU baselines: the same tokens, a recurrent network instead of the sum."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from dxmi.mate.memories.base import MemoryState, SequenceMemory, check_tokens


@dataclass
class RecurrentState(MemoryState):
    """``h``: ``(B, layers, H)``; ``c``: ``(B, layers, H)`` (LSTM cell; zeros-width for GRU)."""

    h: Tensor
    c: Tensor


class RecurrentMemory(SequenceMemory):
    """Base of the RNN memories; subclasses pick ``rnn_class``.

    Training runs the fused multi-step kernel when every row is one episode (starts only at
    ``t = 0``); with episode starts inside a row it steps through time and resets those rows.
    """

    rnn_class: type[nn.LSTM] | type[nn.GRU]
    has_cell: bool

    def __init__(self, token_dim: int, hidden: int | None = None, layers: int = 1) -> None:
        super().__init__(token_dim)
        self.hidden = hidden or token_dim
        self.layers = layers
        self.out_dim = self.hidden
        self.rnn = self.rnn_class(token_dim, self.hidden, num_layers=layers, batch_first=True)

    def init_state(self, batch_size: int, context: Tensor | None = None) -> RecurrentState:
        p = next(self.rnn.parameters())
        cell = self.hidden if self.has_cell else 0
        return RecurrentState(h=p.new_zeros(batch_size, self.layers, self.hidden),
                              c=p.new_zeros(batch_size, self.layers, cell))

    def _hx(self, state: RecurrentState) -> Tensor | tuple[Tensor, Tensor]:
        h = state.h.transpose(0, 1).contiguous()
        return (h, state.c.transpose(0, 1).contiguous()) if self.has_cell else h

    def _state(self, hx: Tensor | tuple[Tensor, Tensor]) -> RecurrentState:
        if isinstance(hx, tuple):
            return RecurrentState(h=hx[0].transpose(0, 1), c=hx[1].transpose(0, 1))
        return RecurrentState(h=hx.transpose(0, 1), c=hx.new_zeros(hx.shape[1], self.layers, 0))

    def read(self, state: MemoryState) -> Tensor:
        assert isinstance(state, RecurrentState)
        return state.h[:, -1]

    def step(self, state: MemoryState, token: Tensor) -> tuple[Tensor, RecurrentState]:
        assert isinstance(state, RecurrentState)
        self.check_step_token(token)
        out, hx = self.rnn(token[:, None], self._hx(state))
        return out[:, 0], self._state(hx)

    def forward(self, tokens: Tensor, episode_start_mask: Tensor,
                context: Tensor | None = None) -> Tensor:
        check_tokens(tokens, episode_start_mask, self.token_dim)
        b, t, _ = tokens.shape
        if not bool(episode_start_mask[:, 1:].any()):
            out, _ = self.rnn(tokens, self._hx(self.init_state(b)))
            return out
        state: MemoryState = self.init_state(b)
        outs = []
        for i in range(t):
            if i > 0:
                state = self.reset_rows(state, episode_start_mask[:, i])
            o, state = self.step(state, tokens[:, i])
            outs.append(o)
        return torch.stack(outs, dim=1)


class LSTMMemory(RecurrentMemory):
    """LSTM over transition tokens (the paper's recurrent baseline)."""

    rnn_class = nn.LSTM
    has_cell = True


class GRUMemory(RecurrentMemory):
    """GRU over transition tokens."""

    rnn_class = nn.GRU
    has_cell = False
