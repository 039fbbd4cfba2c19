"""The image energy of DxMI: a ResNet-style convolutional encoder without normalisation.

    E(x) = exp(s) * sum_{h, w} f_phi(x)[h, w],      f_phi(x) = w^T a_phi(x) + b

a_phi: a 3x3 input convolution, then per level ``blocks`` residual blocks
(h + conv(act(conv(act(h))))), an average-pool downsampling between levels, and the activation;
f_phi is a 1x1 output convolution to one channel; the per-location energies are summed over space
and multiplied by a learnable scale exp(s). Class-conditional (``num_classes = K``): the output
weights depend on the label through a projection (as in projection discriminators),

    E(x | y) = exp(s) * sum_{h, w} (w + e_y)^T a_phi(x)[:, h, w] + b,

with a learned embedding e_y that starts at zero, so the untrained conditional energy equals the
unconditional one. No normalisation layers (an energy must not depend on the other samples of
the batch). It is time-independent, so it can be the value shared with the energy
(:class:`dxmi.values.SharedEnergyValue`, with the sigmoid time cost in the TD targets).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor, nn

from dxmi.energies.base import Energy
from dxmi.nets.mlp import ACTIVATIONS


class _Block(nn.Module):
    def __init__(self, c_in: int, c_out: int, act: type[nn.Module]):
        super().__init__()
        self.body = nn.Sequential(act(), nn.Conv2d(c_in, c_out, 3, padding=1), act(),
                                  nn.Conv2d(c_out, c_out, 3, padding=1))
        self.skip = nn.Conv2d(c_in, c_out, 1) if c_in != c_out else nn.Identity()

    def forward(self, x: Tensor) -> Tensor:
        return self.skip(x) + self.body(x)


class ConvEnergy(Energy):
    """E(x) for images x of shape (B, C, H, W) -> (B,).

    Args:
        sample_shape: (C, H, W).
        channels: width of the first level; level i has ``channels * channel_mult[i]``.
        channel_mult: one multiplier per level (each level after the first halves H and W).
        blocks: residual blocks per level.
        activation: a name from :data:`dxmi.nets.mlp.ACTIVATIONS` (default leaky_relu).
        init_scale: initial value of the output scale exp(s).
        spatial: "sum" (the paper's) or "mean" over the output locations.
        num_classes: K > 0 for E(x | y) with labels 0..K-1 (K = the null class), 0 for E(x).
    """

    def __init__(self, sample_shape: Sequence[int], channels: int = 32, channel_mult: Sequence[int] = (1, 2),
                 blocks: int = 1, activation: str = "leaky_relu", init_scale: float = 1.0,
                 spatial: str = "sum", num_classes: int = 0):
        shape = tuple(int(s) for s in sample_shape)
        if len(shape) != 3:
            raise ValueError(f"ConvEnergy: sample_shape must be (C, H, W), got {shape}")
        super().__init__(shape)
        if activation not in ACTIVATIONS:
            raise ValueError(f"unknown activation {activation!r}; choose from {sorted(ACTIVATIONS)}")
        if spatial not in ("sum", "mean"):
            raise ValueError(f"spatial must be 'sum' or 'mean', got {spatial!r}")
        if init_scale <= 0:
            raise ValueError(f"init_scale must be > 0, got {init_scale}")
        act = ACTIVATIONS[activation]
        c = channels * channel_mult[0]
        layers: list[nn.Module] = [nn.Conv2d(shape[0], c, 3, padding=1)]
        for i, mult in enumerate(channel_mult):
            for _ in range(blocks):
                layers.append(_Block(c, channels * mult, act))
                c = channels * mult
            if i < len(channel_mult) - 1:
                layers.append(nn.AvgPool2d(2))
        layers += [act(), nn.Conv2d(c, 1, 1)]
        self.net = nn.Sequential(*layers)
        self.spatial = spatial
        self.log_scale = nn.Parameter(torch.tensor(math.log(init_scale)))
        if num_classes < 0:
            raise ValueError(f"num_classes must be >= 0, got {num_classes}")
        self._num_classes = num_classes
        self.class_embed = nn.Embedding(num_classes + 1, c) if num_classes > 0 else None
        if self.class_embed is not None:
            nn.init.zeros_(self.class_embed.weight)

    @property
    def num_classes(self) -> int:
        return self._num_classes

    def _reduce(self, e: Tensor) -> Tensor:
        e = e.flatten(1)
        e = e.sum(1) if self.spatial == "sum" else e.mean(1)
        return self.log_scale.exp() * e

    def energy(self, x: Tensor) -> Tensor:
        return self._reduce(self.net(x))

    def conditional_energy(self, x: Tensor, y: Tensor) -> Tensor:
        assert self.class_embed is not None  # forward checked num_classes > 0
        a = self.net[:-1](x)  # (B, c, H', W'): the features before the 1x1 output convolution
        proj = (a * self.class_embed(y)[:, :, None, None]).sum(1, keepdim=True)
        return self._reduce(self.net[-1](a) + proj)


class TimeConvNet(nn.Module):
    """f(x, t) -> (B, 1) for images: the :class:`ConvEnergy` encoder with a sinusoidal embedding of
    the step t added (per channel) after the input convolution and after every level; the spatial
    sum of a 1x1 output convolution. For a time-dependent value V(x, t) on images
    (:class:`dxmi.values.TimeDependentValue`), separate from the energy."""

    def __init__(self, sample_shape: Sequence[int], channels: int = 32, channel_mult: Sequence[int] = (1, 2),
                 blocks: int = 1, activation: str = "leaky_relu", time_dim: int = 32, init_scale: float = 0.1):
        super().__init__()
        from dxmi.nets.mlp import SinusoidalEmbedding

        shape = tuple(int(s) for s in sample_shape)
        if len(shape) != 3:
            raise ValueError(f"TimeConvNet: sample_shape must be (C, H, W), got {shape}")
        if activation not in ACTIVATIONS:
            raise ValueError(f"unknown activation {activation!r}; choose from {sorted(ACTIVATIONS)}")
        act = ACTIVATIONS[activation]
        self.sample_shape = shape
        self.embed = nn.Sequential(SinusoidalEmbedding(time_dim, max_period=100.0), nn.Linear(time_dim, time_dim),
                                   act())
        c = channels * channel_mult[0]
        self.inp = nn.Conv2d(shape[0], c, 3, padding=1)
        self.levels = nn.ModuleList()
        self.time_proj = nn.ModuleList([nn.Linear(time_dim, c)])
        for mult in channel_mult:
            blocks_here: list[nn.Module] = []
            for _ in range(blocks):
                blocks_here.append(_Block(c, channels * mult, act))
                c = channels * mult
            self.levels.append(nn.Sequential(*blocks_here))
            self.time_proj.append(nn.Linear(time_dim, c))
        self.pool = nn.AvgPool2d(2)
        self.out = nn.Sequential(act(), nn.Conv2d(c, 1, 1))
        self.log_scale = nn.Parameter(torch.tensor(math.log(init_scale)))

    def forward(self, x: Tensor, t: Tensor) -> Tensor:
        if tuple(x.shape[1:]) != self.sample_shape or t.shape != (x.shape[0],):
            raise ValueError(f"TimeConvNet: expected x (B, {self.sample_shape}) and t (B,), "
                             f"received {tuple(x.shape)} and {tuple(t.shape)}")
        emb = self.embed(t.float())
        h = self.inp(x) + self.time_proj[0](emb)[:, :, None, None]
        for i, level in enumerate(self.levels):
            if i > 0:
                h = self.pool(h)
            h = level(h) + self.time_proj[i + 1](emb)[:, :, None, None]
        return (self.log_scale.exp() * self.out(h).flatten(1).sum(1))[:, None]
