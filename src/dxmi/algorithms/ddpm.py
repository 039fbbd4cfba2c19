"""Pretraining of the base model: any module with ``loss(x, generator, y=None) -> scalar`` (the
simple DDPM epsilon loss of :class:`EpsilonModel`, or EDM's weighted denoising loss of
:class:`dxmi.diffusion.EDMDenoiser`), optionally with an EMA copy of the weights.

A :class:`LabelledBatch` trains a class-conditional model; with ``label_dropout`` p a label is
replaced by the null class K with probability p, so the model also samples unconditionally."""

from __future__ import annotations

import copy

import torch
from torch import nn

from dxmi.algorithms.base import Algorithm, MethodAsForward, make_adam
from dxmi.diffusion.ddpm import EpsilonModel
from dxmi.nets.conditioning import num_classes
from dxmi.nets.ema import ema_update
from dxmi.records import Batch, Metrics, split_batch


class DDPMTraining(Algorithm):
    supports_distributed = True

    def __init__(self, model: EpsilonModel | nn.Module, lr: float = 1e-3, grad_clip: float | None = 1.0,
                 generator: torch.Generator | None = None, lr_decay_steps: int = 0, ema: float = 0.0,
                 label_dropout: float = 0.0):
        if not 0.0 <= ema < 1.0:
            raise ValueError(f"ema must be in [0, 1), got {ema}")
        if not 0.0 <= label_dropout < 1.0:
            raise ValueError(f"label_dropout must be in [0, 1), got {label_dropout}")
        self.label_dropout = label_dropout
        self.model = model
        self.modules = {"model": model}
        self.loss_target = MethodAsForward(model, "loss")  # what DDP wraps: the loss, not model.forward
        self.ema_model: nn.Module | None = None
        if ema > 0:  # sampling uses the EMA weights (saved as "model_ema")
            self.ema_model = copy.deepcopy(model).requires_grad_(False)
            self.modules["model_ema"] = self.ema_model
        self.ema = ema
        self.optimizers = {"model": make_adam(model.parameters(), lr)}
        device = next(model.parameters()).device
        self.generator = generator or torch.Generator(device=device)
        self.grad_clip = grad_clip
        self.base_lr = lr
        self.lr_decay_steps = lr_decay_steps

    def train_targets(self) -> dict[str, nn.Module]:
        return {"model": self.loss_target}

    def update(self, batch: Batch) -> Metrics:
        opt = self.optimizers["model"]
        if self.lr_decay_steps > 0:  # cosine decay to 5% over lr_decay_steps
            frac = min(self.iteration / self.lr_decay_steps, 1.0)
            scale = 0.05 + 0.95 * 0.5 * (1 + torch.cos(torch.tensor(frac * torch.pi)).item())
            for g in opt.param_groups:
                g["lr"] = self.base_lr * scale
        x, y = split_batch(batch)
        if y is not None and self.label_dropout > 0:  # the null class K, for unconditional sampling too
            drop = torch.rand(y.shape, generator=self.generator, device=y.device) < self.label_dropout
            y = torch.where(drop, torch.full_like(y, num_classes(self.model)), y)
        loss = self.trained("model")(x, self.generator, y=y)  # = model.loss, gradient-synced under DDP
        gnorm = self.optimizer_step("model", loss, self.grad_clip)
        if self.ema_model is not None:
            ema_update(self.ema_model, self.model, self.ema)
        self.iteration += 1
        return Metrics.of(loss=loss, grad_norm=gnorm)
