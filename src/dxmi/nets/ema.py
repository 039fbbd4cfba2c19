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
    targets: list[torch.Tensor] = list(target.parameters())
    sources = [p.detach() for p in source.parameters()]
    if len(targets) != len(sources):
        raise ValueError(f"ema_update: the target has {len(targets)} parameters, the source {len(sources)}")
    torch._foreach_lerp_(targets, sources, 1 - decay)  # each pt.lerp_(ps, 1 - decay), in one call
    if buffers:
        for bt, bs in zip(target.buffers(), source.buffers()):
            bt.copy_(bs)
