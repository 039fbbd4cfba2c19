"""Exponential moving averages of a module's weights (EMA samplers, target networks)."""

from __future__ import annotations

import torch
from torch import nn


@torch.no_grad()
def ema_update(target: nn.Module, source: nn.Module, decay: float, buffers: bool = False) -> None:
    """``target <- decay * target + (1 - decay) * source``, parameter by parameter (``lerp_``).

    ``target`` is a copy of ``source`` (same parameters in the same order). With ``buffers`` the
    buffers (e.g. normalisation statistics) are copied over unaveraged. A soft target update with
    rate ``tau`` is ``decay = 1 - tau``.
    """
    for pt, ps in zip(target.parameters(), source.parameters()):
        pt.lerp_(ps.detach(), 1 - decay)
    if buffers:
        for bt, bs in zip(target.buffers(), source.buffers()):
            bt.copy_(bs)
