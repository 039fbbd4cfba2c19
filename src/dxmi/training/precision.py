"""Mixed precision: ``torch.autocast`` around the update, a ``GradScaler`` for float16.

``bf16`` runs the forward passes (network evaluations of rollouts, TD targets and losses) in
bfloat16 where autocast deems it safe; it has float32's range, so no loss scaling is needed.
``fp16`` adds dynamic loss scaling: each optimiser step of the algorithm scales the loss, unscales
the gradients before clipping and skips the step when they are not finite
(:meth:`dxmi.algorithms.base.Algorithm.optimizer_step`). Parameters, optimiser states, the
trajectory buffer and the velocity scale stay float32. Meant for GPUs; both modes also run on CPU
(slowly), which is how the tests exercise them.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass

import torch

__all__ = ["PRECISIONS", "Precision"]

PRECISIONS: dict[str, torch.dtype | None] = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}


@dataclass(frozen=True)
class Precision:
    """``name``: fp32 (off), bf16 or fp16; ``device_type``: cpu or cuda."""

    name: str = "fp32"
    device_type: str = "cpu"
    init_scale: float = 2.0**16

    def __post_init__(self) -> None:
        if self.name not in PRECISIONS:
            raise ValueError(f"precision must be one of {sorted(PRECISIONS)}, got {self.name!r}")

    @property
    def dtype(self) -> torch.dtype | None:
        return PRECISIONS[self.name]

    @contextlib.contextmanager
    def autocast(self) -> Iterator[None]:
        if self.dtype is None:
            yield
            return
        with torch.autocast(device_type=self.device_type, dtype=self.dtype):
            yield

    def make_scaler(self) -> torch.amp.GradScaler | None:
        """A dynamic loss scaler for fp16; None otherwise."""
        if self.name != "fp16":
            return None
        return torch.amp.GradScaler(self.device_type, init_scale=self.init_scale)
