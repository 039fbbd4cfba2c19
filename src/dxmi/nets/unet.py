"""A time-conditioned UNet for images (the epsilon-/denoiser-network of image samplers).

    net(x (B, C, H, W), t (B,) float[, y (B,) long]) -> (B, C_out, H, W)

the same call signature as the vector networks (:class:`dxmi.nets.TimeMLP`), so that
:class:`dxmi.diffusion.EpsilonModel`, :class:`dxmi.policies.DDPMSubsequencePolicy` and
:class:`dxmi.policies.EDMPolicy` use it unchanged.

Layout (DDPM-style): a 3x3 input convolution; per resolution level ``num_res_blocks`` residual
blocks (GroupNorm, SiLU, 3x3 conv, additive time(+class) embedding, GroupNorm, SiLU, dropout,
zero-initialised 3x3 conv), self-attention at the resolutions listed in ``attention_resolutions``,
a strided-conv downsampling between levels; a middle block (res, attention, res); a mirrored
upsampling path with skip concatenations; GroupNorm, SiLU and a zero-initialised output conv (so
a fresh network predicts 0).

Class conditioning: with ``num_classes = K > 0`` a learned embedding of ``y`` in 0..K-1 is added to
the time embedding; ``y = K`` (or ``y`` omitted) is the unconditional "null" class (train it with
label dropout, ``pretrain.label_dropout``, to sample unconditionally too).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from dxmi.nets.mlp import SinusoidalEmbedding


def _groups(channels: int, max_groups: int) -> int:
    g = min(max_groups, channels)
    while channels % g:
        g -= 1
    return g


def _zero(module: nn.Module) -> nn.Module:
    for p in module.parameters():
        nn.init.zeros_(p)
    return module


class ResBlock(nn.Module):
    """h = x + conv(SiLU(GN(conv(SiLU(GN(x))) + W e))) with a 1x1 skip when channels change."""

    def __init__(self, c_in: int, c_out: int, emb_dim: int, groups: int, dropout: float = 0.0):
        super().__init__()
        self.norm1 = nn.GroupNorm(_groups(c_in, groups), c_in)
        self.conv1 = nn.Conv2d(c_in, c_out, 3, padding=1)
        self.emb = nn.Linear(emb_dim, c_out)
        self.norm2 = nn.GroupNorm(_groups(c_out, groups), c_out)
        self.drop = nn.Dropout(dropout)
        self.conv2 = _zero(nn.Conv2d(c_out, c_out, 3, padding=1))
        self.skip = nn.Conv2d(c_in, c_out, 1) if c_in != c_out else nn.Identity()

    def forward(self, x: Tensor, emb: Tensor) -> Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        h = h + self.emb(emb)[:, :, None, None]
        h = self.conv2(self.drop(F.silu(self.norm2(h))))
        return self.skip(x) + h


class AttentionBlock(nn.Module):
    """Multi-head self-attention over the H*W positions, residual, zero-initialised output."""

    def __init__(self, channels: int, groups: int, heads: int = 1):
        super().__init__()
        if channels % heads:
            raise ValueError(f"attention: {channels} channels are not divisible by {heads} heads")
        self.heads = heads
        self.norm = nn.GroupNorm(_groups(channels, groups), channels)
        self.qkv = nn.Conv2d(channels, 3 * channels, 1)
        self.proj = _zero(nn.Conv2d(channels, channels, 1))

    def forward(self, x: Tensor) -> Tensor:
        b, c, h, w = x.shape
        q, k, v = self.qkv(self.norm(x)).reshape(b, 3, self.heads, c // self.heads, h * w).unbind(1)
        # (B, heads, HW, d)
        out = F.scaled_dot_product_attention(q.transpose(-1, -2), k.transpose(-1, -2), v.transpose(-1, -2))
        return x + self.proj(out.transpose(-1, -2).reshape(b, c, h, w))


class UNet(nn.Module):
    """Time-conditioned UNet.

    Args:
        in_channels / out_channels: image channels (``out_channels`` defaults to ``in_channels``).
        channels: width of the first level; level ``i`` has ``channels * channel_mult[i]``.
        channel_mult: one multiplier per resolution level (``len`` = number of levels; each level
            after the first halves the resolution, so H and W must be divisible by
            ``2 ** (levels - 1)``).
        num_res_blocks: residual blocks per level on the way down (one more on the way up).
        attention_resolutions: resolutions (side length in pixels) that get self-attention.
        num_classes: 0 for unconditional, K for class-conditional (y in 0..K-1, K = null class).
        time_scale: multiplies t before the sinusoidal embedding (1 for DDPM indices 0..999;
            e.g. 1000 for continuous times in [0, 1] or EDM's c_noise).
    """

    def __init__(self, in_channels: int = 3, channels: int = 64, channel_mult: Sequence[int] = (1, 2, 2),
                 num_res_blocks: int = 2, attention_resolutions: Sequence[int] = (16,),
                 image_size: int = 32, out_channels: int | None = None, dropout: float = 0.0,
                 num_classes: int = 0, heads: int = 1, groups: int = 32, time_scale: float = 1.0):
        super().__init__()
        if len(channel_mult) < 1 or channels < 1 or num_res_blocks < 1:
            raise ValueError(f"UNet needs channels >= 1, num_res_blocks >= 1 and at least one level; got "
                             f"channels={channels}, num_res_blocks={num_res_blocks}, channel_mult={channel_mult}")
        levels = len(channel_mult)
        if image_size % (2 ** (levels - 1)):
            raise ValueError(f"image_size {image_size} is not divisible by 2^(levels-1) = {2 ** (levels - 1)}")
        self.in_channels = in_channels
        self.out_channels = out_channels or in_channels
        self.image_size = image_size
        self.num_classes = num_classes
        self.factor = 2 ** (levels - 1)
        emb_dim = 4 * channels
        self.time_embed = nn.Sequential(SinusoidalEmbedding(channels, scale=time_scale),
                                        nn.Linear(channels, emb_dim), nn.SiLU(), nn.Linear(emb_dim, emb_dim))
        self.class_embed = nn.Embedding(num_classes + 1, emb_dim) if num_classes > 0 else None
        self.conv_in = nn.Conv2d(in_channels, channels, 3, padding=1)

        self.down = nn.ModuleList()
        skips = [channels]
        c, res = channels, image_size
        for i, mult in enumerate(channel_mult):
            for _ in range(num_res_blocks):
                block = nn.ModuleList([ResBlock(c, channels * mult, emb_dim, groups, dropout)])
                c = channels * mult
                if res in attention_resolutions:
                    block.append(AttentionBlock(c, groups, heads))
                self.down.append(block)
                skips.append(c)
            if i < levels - 1:
                self.down.append(nn.ModuleList([nn.Conv2d(c, c, 3, stride=2, padding=1)]))
                skips.append(c)
                res //= 2
        self.mid = nn.ModuleList([ResBlock(c, c, emb_dim, groups, dropout), AttentionBlock(c, groups, heads),
                                  ResBlock(c, c, emb_dim, groups, dropout)])
        self.up = nn.ModuleList()
        for i, mult in reversed(list(enumerate(channel_mult))):
            for j in range(num_res_blocks + 1):
                block = nn.ModuleList([ResBlock(c + skips.pop(), channels * mult, emb_dim, groups, dropout)])
                c = channels * mult
                if res in attention_resolutions:
                    block.append(AttentionBlock(c, groups, heads))
                if i > 0 and j == num_res_blocks:
                    block.append(nn.Upsample(scale_factor=2, mode="nearest"))
                    block.append(nn.Conv2d(c, c, 3, padding=1))
                    res *= 2
                self.up.append(block)
        self.norm_out = nn.GroupNorm(_groups(c, groups), c)
        self.conv_out = _zero(nn.Conv2d(c, self.out_channels, 3, padding=1))

    def _embedding(self, t: Tensor, y: Tensor | None, batch: int) -> Tensor:
        if t.numel() > 1 and bool((t == t[0]).all()):  # one t for the batch: embed it once
            emb = self.time_embed(t[:1]).expand(batch, -1)
        else:
            emb = self.time_embed(t)
        if self.class_embed is not None:
            if y is None:
                y = torch.full((batch,), self.num_classes, dtype=torch.long, device=t.device)
            if y.shape != (batch,) or y.dtype != torch.long:
                raise ValueError(f"UNet: expected labels y of shape ({batch},) and dtype long, "
                                 f"received {tuple(y.shape)} {y.dtype}")
            if int(y.min()) < 0 or int(y.max()) > self.num_classes:
                raise ValueError(f"UNet: labels must lie in 0..{self.num_classes} ({self.num_classes} = null), "
                                 f"received {int(y.min())}..{int(y.max())}")
            emb = emb + self.class_embed(y)
        return emb

    def forward(self, x: Tensor, t: Tensor, y: Tensor | None = None) -> Tensor:
        if x.ndim != 4 or x.shape[1] != self.in_channels or x.shape[2] % self.factor or x.shape[3] % self.factor:
            raise ValueError(f"UNet: expected x of shape (B, {self.in_channels}, H, W) with H, W divisible by "
                             f"{self.factor}, received {tuple(x.shape)}")
        if t.shape != (x.shape[0],):
            raise ValueError(f"UNet: expected t of shape ({x.shape[0]},), received {tuple(t.shape)}")
        emb = self._embedding(t.to(x.dtype), y, x.shape[0])
        h = self.conv_in(x)
        hs = [h]
        for block in self.down:
            assert isinstance(block, nn.ModuleList)
            for layer in block:
                h = layer(h, emb) if isinstance(layer, ResBlock) else layer(h)
            hs.append(h)
        for layer in self.mid:
            h = layer(h, emb) if isinstance(layer, ResBlock) else layer(h)
        for block in self.up:
            h = torch.cat([h, hs.pop()], dim=1)
            assert isinstance(block, nn.ModuleList)
            for layer in block:
                h = layer(h, emb) if isinstance(layer, ResBlock) else layer(h)
        return self.conv_out(F.silu(self.norm_out(h)))

    def extra_repr(self) -> str:
        n = sum(p.numel() for p in self.parameters())
        return f"params={n / 1e6:.2f}M, classes={self.num_classes}"


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


__all__ = ["AttentionBlock", "ResBlock", "UNet", "count_parameters"]
