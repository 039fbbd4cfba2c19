"""Algorithm base: modules, optimisers and an explicit generator, saved and restored together."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor, nn

from dxmi.records import Batch, LabelledBatch, Metrics


class Algorithm(ABC):
    """One training step over parts passed in at construction.

    Subclasses fill ``self.modules`` (name -> module) and ``self.optimizers`` (name -> optimiser)
    and implement :meth:`update`. ``self.generator`` drives every random draw of the update, so a
    run restored from :meth:`state_dict` continues exactly.

    Scale-out and mixed precision are attached from outside (``dxmi.training.distributed`` and the
    Trainer) and reach the update through three hooks: losses that train module ``name`` call
    :meth:`trained` (its DDP wrapper under torchrun), optimiser steps go through
    :meth:`optimizer_step` (loss scaling under fp16) and statistics that must agree across ranks
    through :meth:`mean_over_ranks`. With nothing attached they are the plain single-process calls.
    """

    modules: dict[str, nn.Module]
    optimizers: dict[str, torch.optim.Optimizer]
    generator: torch.Generator
    iteration: int = 0
    #: set when every loss of :meth:`update` goes through :meth:`trained` (required by DDP).
    supports_distributed: bool = False
    wrappers: dict[str, nn.Module] | None = None
    reduce_mean: Callable[[Tensor], Tensor] | None = None
    grad_scaler: torch.amp.GradScaler | None = None

    @abstractmethod
    def update(self, batch: Batch) -> Metrics:
        """One training step on a data batch (a tensor, or a :class:`LabelledBatch` for
        class-conditional training); returns scalar metrics."""

    def unlabelled(self, batch: Batch) -> Tensor:
        """The batch of an algorithm without class-conditional training, or a one-line error."""
        if isinstance(batch, LabelledBatch):
            raise ValueError(f"{type(self).__name__} does not train class-conditionally: pass the data "
                             "without labels")
        return batch

    # -- hooks for scale-out and mixed precision ---------------------------------------------
    def train_targets(self) -> dict[str, nn.Module]:
        """name -> the module whose forward the losses that train ``modules[name]`` call (what DDP
        wraps under torchrun). Default: every module with a trainable parameter, itself; an
        algorithm whose loss runs another method (``policy.step``, ``model.loss``) maps the name to
        a :class:`MethodAsForward` of it."""
        return {n: m for n, m in self.modules.items() if any(p.requires_grad for p in m.parameters())}

    def trained(self, name: str) -> nn.Module:
        """The module to call in a loss whose gradient trains ``modules[name]``.

        Under torchrun this is the ``DistributedDataParallel`` wrapper of its train target, whose
        backward pass averages the gradient over ranks; otherwise the train target itself. This is
        the one place where a DDP wrapper stands in for its module: rollouts, targets, sampling and
        checkpoints use the module directly, so nothing ever unwraps ``.module``.
        """
        if self.wrappers is not None and name in self.wrappers:
            return self.wrappers[name]
        target = self.train_targets().get(name, self.modules.get(name))
        if target is None:
            raise KeyError(f"{type(self).__name__} has no trained module {name!r}")
        return target

    def mean_over_ranks(self, x: Tensor) -> Tensor:
        """Mean of a statistic over the ranks of a distributed run (identity otherwise)."""
        return x if self.reduce_mean is None else self.reduce_mean(x)

    def optimizer_step(self, name: str, loss: Tensor, max_norm: float | None,
                       inputs: list[nn.Parameter] | None = None) -> Tensor:
        """zero_grad, backward, clip, step for ``optimizers[name]``; returns the pre-clip grad norm.

        ``inputs`` restricts the backward pass to those leaves (the sampler step must not touch
        the energy's gradients). Under fp16 the loss is scaled, the gradients are unscaled before
        clipping and a step with non-finite gradients is skipped (the scale then shrinks); the
        returned norm is then 0. The backward pass runs outside autocast.
        """
        opt = self.optimizers[name]
        params = [p for g in opt.param_groups for p in g["params"]]
        opt.zero_grad(set_to_none=True)
        scaler = self.grad_scaler
        with torch.autocast(device_type=loss.device.type, enabled=False):
            (loss if scaler is None else scaler.scale(loss)).backward(inputs=inputs)
        if scaler is None:
            gnorm = clip(params, max_norm)
            opt.step()
            return gnorm
        scaler.unscale_(opt)
        gnorm = clip(params, max_norm)
        scaler.step(opt)
        scaler.update()
        return gnorm if bool(torch.isfinite(gnorm)) else torch.zeros((), device=gnorm.device)

    # -- state ----------------------------------------------------------------------------------
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


class MethodAsForward(nn.Module):
    """``forward(*args, **kwargs) = module.<method>(*args, **kwargs)``: lets DDP run, and
    synchronise the gradient of, a method other than the module's forward."""

    def __init__(self, module: nn.Module, method: str):
        super().__init__()
        if not callable(getattr(module, method, None)):
            raise AttributeError(f"{type(module).__name__} has no method {method!r}")
        self.module = module
        self.method = method

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        return getattr(self.module, self.method)(*args, **kwargs)


def make_adam(params: Any, lr: float, fused: bool = False) -> torch.optim.Adam:
    """Adam over ``params`` (tensors or param groups) with its multi-tensor kernels (``foreach``): the
    same numbers as the per-tensor loop, with one call per operation for all tensors instead of one
    per tensor (about 2x faster steps for the small networks here). ``fused`` uses the fused kernel
    instead (faster still, but its rounding differs in the last bits)."""
    if fused:
        return torch.optim.Adam(params, lr=lr, fused=True)
    return torch.optim.Adam(params, lr=lr, foreach=True)


def clip(params: list[nn.Parameter], max_norm: float | None) -> Tensor:
    """Clip the gradient norm when ``max_norm`` is set; return the norm before clipping."""
    grads = [p for p in params if p.grad is not None]
    if not grads:
        return torch.zeros(())
    if max_norm is None or max_norm <= 0:
        return torch.norm(torch.stack([p.grad.detach().norm() for p in grads if p.grad is not None]))
    return nn.utils.clip_grad_norm_(grads, max_norm)
