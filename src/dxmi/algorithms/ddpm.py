"""Pretraining of the base model: any module with ``loss(x, generator) -> scalar`` (the simple
DDPM epsilon loss of :class:`EpsilonModel`, or EDM's weighted denoising loss of
:class:`dxmi.diffusion.EDMDenoiser`), optionally with an EMA copy of the weights."""

from __future__ import annotations

import copy

import torch
from torch import Tensor, nn

from dxmi.algorithms.base import Algorithm, MethodAsForward
from dxmi.diffusion.ddpm import EpsilonModel
from dxmi.records import Metrics


class DDPMTraining(Algorithm):
    supports_distributed = True

    def __init__(self, model: EpsilonModel | nn.Module, lr: float = 1e-3, grad_clip: float | None = 1.0,
                 generator: torch.Generator | None = None, lr_decay_steps: int = 0, ema: float = 0.0):
        if not 0.0 <= ema < 1.0:
            raise ValueError(f"ema must be in [0, 1), got {ema}")
        self.model = model
        self.modules = {"model": model}
        self.loss_target = MethodAsForward(model, "loss")  # what DDP wraps: the loss, not model.forward
        self.ema_model: nn.Module | None = None
        if ema > 0:  # sampling uses the EMA weights (saved as "model_ema")
            self.ema_model = copy.deepcopy(model).requires_grad_(False)
            self.modules["model_ema"] = self.ema_model
        self.ema = ema
        self.optimizers = {"model": torch.optim.Adam(model.parameters(), lr=lr)}
        device = next(model.parameters()).device
        self.generator = generator or torch.Generator(device=device)
        self.grad_clip = grad_clip
        self.base_lr = lr
        self.lr_decay_steps = lr_decay_steps

    def train_targets(self) -> dict[str, nn.Module]:
        return {"model": self.loss_target}

    def update(self, batch: Tensor) -> Metrics:
        opt = self.optimizers["model"]
        if self.lr_decay_steps > 0:  # cosine decay to 5% over lr_decay_steps
            frac = min(self.iteration / self.lr_decay_steps, 1.0)
            scale = 0.05 + 0.95 * 0.5 * (1 + torch.cos(torch.tensor(frac * torch.pi)).item())
            for g in opt.param_groups:
                g["lr"] = self.base_lr * scale
        loss = self.trained("model")(batch, self.generator)  # = model.loss, gradient-synced under DDP
        gnorm = self.optimizer_step("model", loss, self.grad_clip)
        if self.ema_model is not None:
            with torch.no_grad():
                for pe, p in zip(self.ema_model.parameters(), self.model.parameters()):
                    pe.lerp_(p.detach(), 1 - self.ema)
        self.iteration += 1
        return Metrics.of(loss=loss, grad_norm=gnorm)
