"""Algorithm base: modules, optimisers and an explicit generator, saved and restored together."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

import torch
from torch import Tensor, nn

from dxmi.records import Metrics


class Algorithm(ABC):
    """One training step over parts passed in at construction.

    Subclasses fill ``self.modules`` (name -> module) and ``self.optimizers`` (name -> optimiser)
    and implement :meth:`update`. ``self.generator`` drives every random draw of the update, so a
    run restored from :meth:`state_dict` continues exactly.
    """

    modules: dict[str, nn.Module]
    optimizers: dict[str, torch.optim.Optimizer]
    generator: torch.Generator
    iteration: int = 0

    @abstractmethod
    def update(self, batch: Tensor) -> Metrics:
        """One training step on a data batch; returns scalar metrics."""

    def extra_state(self) -> dict[str, Any]:
        return {}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        return None

    def state_dict(self) -> dict[str, Any]:
        return {
            "modules": {k: m.state_dict() for k, m in self.modules.items()},
            "optimizers": {k: o.state_dict() for k, o in self.optimizers.items()},
            "generator": self.generator.get_state(),
            "iteration": self.iteration,
            "extra": self.extra_state(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for k, m in self.modules.items():
            m.load_state_dict(state["modules"][k])
        for k, o in self.optimizers.items():
            o.load_state_dict(state["optimizers"][k])
        self.generator.set_state(state["generator"].cpu() if isinstance(state["generator"], Tensor)
                                 else state["generator"])
        self.iteration = int(state["iteration"])
        self.load_extra_state(state.get("extra", {}))

    def train(self, mode: bool = True) -> None:
        for m in self.modules.values():
            m.train(mode)


def clip(params: list[nn.Parameter], max_norm: float | None) -> Tensor:
    """Clip the gradient norm when ``max_norm`` is set; return the norm before clipping."""
    grads = [p for p in params if p.grad is not None]
    if not grads:
        return torch.zeros(())
    if max_norm is None or max_norm <= 0:
        return torch.norm(torch.stack([p.grad.detach().norm() for p in grads if p.grad is not None]))
    return nn.utils.clip_grad_norm_(grads, max_norm)
