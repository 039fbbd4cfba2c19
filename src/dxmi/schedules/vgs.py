"""The Value Gradient Sampler's per-step tables: variances ``s_t^2`` of its auxiliary reverse chain,
the scales ``alpha_t`` (VP: ``1 / sqrt(1 - s_t^2)``; VE: ``1``) and the policy's step stds
``sigma_t = s_t alpha_t``. A schedule is its coefficient tables."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor, nn


def _quad(start: float, end: float, n: int) -> Tensor:
    """``s_t^2 = (sqrt(start) + (sqrt(end) - sqrt(start)) t/(n-1))^2``: quadratic in t."""
    r = torch.linspace(math.sqrt(start), math.sqrt(end), n, dtype=torch.float64)
    return r * r


def _linear(start: float, end: float, n: int) -> Tensor:
    return torch.linspace(start, end, n, dtype=torch.float64)


def _geometric(start: float, end: float, n: int) -> Tensor:
    return torch.logspace(math.log10(start), math.log10(end), n, dtype=torch.float64)


def _constant(start: float, end: float, n: int) -> Tensor:
    return torch.full((n,), start, dtype=torch.float64)


#: The shapes of ``s_t^2`` from ``s2_start`` (t = 0) to ``s2_end`` (t = T - 1).
S2_SCHEDULES: dict[str, Callable[[float, float, int], Tensor]] = {
    "quad": _quad,
    "linear": _linear,
    "geometric": _geometric,
    "constant": _constant,
}


class VGSSchedule(nn.Module):
    """Per-step tables (float32 buffers, length T): ``s2`` (s_t^2), ``alpha`` (alpha_t), ``sigma``
    (s_t alpha_t). ``variant``: ``"vp"`` (alpha_t = 1/sqrt(1 - s_t^2), needs s_t^2 < 1) or ``"ve"``."""

    s2: Tensor
    alpha: Tensor
    sigma: Tensor

    def __init__(self, num_steps: int, s2_start: float, s2_end: float, kind: str = "quad", variant: str = "vp"):
        super().__init__()
        if num_steps < 1:
            raise ValueError(f"num_steps must be >= 1, got {num_steps}")
        if kind not in S2_SCHEDULES:
            raise ValueError(f"unknown s^2 schedule {kind!r}; choose from {sorted(S2_SCHEDULES)}")
        if variant not in ("vp", "ve"):
            raise ValueError(f"variant must be 'vp' or 've', got {variant!r}")
        if min(s2_start, s2_end) <= 0:
            raise ValueError(f"s^2 must be > 0, got {s2_start} -> {s2_end}")
        s2 = S2_SCHEDULES[kind](s2_start, s2_end, num_steps) if num_steps > 1 else torch.tensor([s2_start],
                                                                                               dtype=torch.float64)
        if variant == "vp" and bool((s2 >= 1).any()):
            raise ValueError(f"VP needs s_t^2 < 1, got max {float(s2.max())}")
        alpha = 1 / torch.sqrt(1 - s2) if variant == "vp" else torch.ones_like(s2)
        self.register_buffer("s2", s2.float())
        self.register_buffer("alpha", alpha.float())
        self.register_buffer("sigma", (torch.sqrt(s2) * alpha).float())
        self.num_steps = num_steps
        self.variant = variant


__all__ = ["S2_SCHEDULES", "VGSSchedule"]
