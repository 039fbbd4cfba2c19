"""MCMC-trained EBM: contrastive divergence with short-run Langevin negatives (the baseline DxMI removes).

Negatives start from the same noise as the DxMI sampler, x^0 ~ N(0, s_0^2 I), and take K unadjusted
Langevin steps on the current energy,

    x^{k+1} = x^k - h grad_x E(x^k) + noise_scale * sqrt(2 h) eps,     eps ~ N(0, I),

(noise_scale = 1 is exact Langevin for q proportional to exp(-E); short-run EBMs usually use less).
The energy then takes one step on the same loss as DxMI's energy step
(:func:`~dxmi.algorithms.losses.contrastive_divergence`),

    L_E = mean E(x_data) - mean E(x^K) + gamma (mean E(x_data)^2 + mean E(x^K)^2).

With ``replay`` > 0, a fraction 1 - replay of the chains restarts from noise and the rest continue
from a persistent buffer (PCD-style); 0 is pure short-run (every chain from noise).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from dxmi.algorithms.base import Algorithm, make_adam
from dxmi.algorithms.losses import contrastive_divergence
from dxmi.energies.base import Energy
from dxmi.records import Batch, Metrics
from dxmi.validation import check_ranges


@dataclass
class LangevinCDConfig:
    """Attributes:
        batch_size: data batch and number of chains B.
        langevin_steps: K, Langevin steps per iteration.
        step_size: h.
        noise_scale: multiplies the sqrt(2 h) noise.
        init_scale: s_0, std of the initial noise.
        replay: fraction of chains continued from the persistent buffer (0 = short-run).
        gamma: energy-magnitude regulariser weight.
        energy_lr: Adam learning rate; energy_grad_clip: gradient-norm clip (None disables).
    """

    batch_size: int = 128
    langevin_steps: int = 20
    step_size: float = 0.05
    noise_scale: float = 1.0
    init_scale: float = 1.0
    replay: float = 0.0
    gamma: float = 1.0
    energy_lr: float = 1e-3
    energy_grad_clip: float | None = None

    def __post_init__(self) -> None:
        check_ranges(self, non_negative=("noise_scale", "init_scale", "gamma"))
        if self.langevin_steps < 1 or self.step_size <= 0 or self.batch_size < 1:
            raise ValueError("langevin_steps and batch_size must be >= 1 and step_size > 0")
        if not 0.0 <= self.replay < 1.0:
            raise ValueError(f"replay must be in [0, 1), got {self.replay}")


class LangevinCD(Algorithm):
    """Short-run Langevin contrastive divergence on an energy passed in."""

    name = "langevin_cd"
    supports_distributed = True

    def __init__(self, energy: Energy, config: LangevinCDConfig, generator: torch.Generator | None = None):
        self.energy, self.config = energy, config
        device = next(energy.parameters()).device
        self.generator = generator or torch.Generator(device=device)
        self.modules = {"energy": energy}
        self.optimizers = {"energy": make_adam(energy.parameters(), config.energy_lr)}
        self.persistent: Tensor | None = None

    def noise(self, n: int) -> Tensor:
        shape = (n, *self.energy.sample_shape)
        device = next(self.energy.parameters()).device
        return self.config.init_scale * torch.randn(shape, generator=self.generator, device=device)

    def langevin(self, x: Tensor) -> Tensor:
        """K Langevin steps from x (no gradient into the energy's parameters)."""
        cfg = self.config
        h = cfg.step_size
        self.energy.requires_grad_(False)
        try:
            for _ in range(cfg.langevin_steps):
                x = x.detach().requires_grad_(True)
                (grad,) = torch.autograd.grad(self.energy(x).sum(), x)
                eps = torch.randn(x.shape, generator=self.generator, device=x.device)
                x = x - h * grad + cfg.noise_scale * (2 * h) ** 0.5 * eps
        finally:
            self.energy.requires_grad_(True)
        return x.detach()

    def negatives(self, n: int) -> Tensor:
        x0 = self.noise(n)
        if self.config.replay > 0 and self.persistent is not None:
            keep = torch.rand(n, generator=self.generator, device=x0.device) < self.config.replay
            x0 = torch.where(keep.view(-1, *([1] * (x0.ndim - 1))), self.persistent, x0)
        x = self.langevin(x0)
        if self.config.replay > 0:
            self.persistent = x
        return x

    def update(self, batch: Batch) -> Metrics:
        cfg = self.config
        batch = self.unlabelled(batch)
        if batch.shape[0] != cfg.batch_size or tuple(batch.shape[1:]) != tuple(self.energy.sample_shape):
            raise ValueError(f"LangevinCD.update: expected data batch ({cfg.batch_size}, {self.energy.sample_shape}), "
                             f"received {tuple(batch.shape)}")
        self.train(True)
        neg = self.negatives(cfg.batch_size)  # each rank's own chains under torchrun
        energy = self.trained("energy")
        e_data, e_model = energy(batch), energy(neg)
        loss = contrastive_divergence(self.energy, batch, e_data, neg, e_model, cfg.gamma)
        gnorm = self.optimizer_step("energy", loss, cfg.energy_grad_clip)
        self.iteration += 1
        return Metrics.of(loss_energy=loss, energy_data=e_data.mean(), energy_model=e_model.mean(),
                          grad_norm_energy=gnorm)
