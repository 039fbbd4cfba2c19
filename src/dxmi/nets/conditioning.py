"""Class labels for networks that may or may not take them.

A class-conditional backbone has an attribute ``num_classes = K > 0`` and a call signature
``net(*inputs, y)`` with labels ``y`` (B,) long in ``0..K-1`` (``K`` may be a null class, see
:class:`dxmi.nets.unet.UNet`); an unconditional one has ``num_classes = 0`` (or no such attribute)
and no ``y``. The parts built on backbones (policies, energies, values, base models) take an
optional ``y`` and pass it on through :func:`call`, so one code path serves both kinds.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn


def num_classes(net: nn.Module) -> int:
    """K of a class-conditional network, 0 for an unconditional one."""
    return int(getattr(net, "num_classes", 0) or 0)


def check_labels(y: Tensor, batch: int, classes: int, who: str) -> None:
    """Labels for a part with ``classes`` classes: (batch,) long in 0..classes (classes = the null
    class); a one-line error naming ``who`` and what was received otherwise."""
    if classes <= 0:
        raise ValueError(f"{who} is unconditional: it takes no class labels (received labels of shape "
                         f"{tuple(y.shape)})")
    if y.shape != (batch,) or y.dtype != torch.long:
        raise ValueError(f"{who}: expected labels of shape ({batch},) and dtype long, "
                         f"received {tuple(y.shape)} {y.dtype}")
    if batch and (int(y.min()) < 0 or int(y.max()) > classes):
        raise ValueError(f"{who}: labels must lie in 0..{classes - 1} (or {classes}, the null class), "
                         f"received {int(y.min())}..{int(y.max())}")


def call(net: nn.Module, *inputs: Tensor, y: Tensor | None = None) -> Any:
    """``net(*inputs)``, or ``net(*inputs, y)`` when labels are given (checked against the net)."""
    if y is None:
        return net(*inputs)
    check_labels(y, inputs[0].shape[0], num_classes(net), type(net).__name__)
    return net(*inputs, y)


def labels_for(part: nn.Module, y: Tensor | None) -> Tensor | None:
    """The labels a part takes: ``y`` for a class-conditional part, None for an unconditional one
    (a class-agnostic energy or value may serve a class-conditional sampler)."""
    return y if num_classes(part) > 0 else None
