"""MLP backbones, with and without a time embedding."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor, nn

ACTIVATIONS: dict[str, type[nn.Module]] = {
    "silu": nn.SiLU,
    "relu": nn.ReLU,
    "leaky_relu": nn.LeakyReLU,
    "gelu": nn.GELU,
    "tanh": nn.Tanh,
}


def check_shape(name: str, x: Tensor, expected: Sequence[int | None]) -> None:
    """Raise a ValueError that prints what was received when ``x`` does not match ``expected``
    (``None`` matches any size)."""
    if x.ndim != len(expected) or any(e is not None and e != s for e, s in zip(expected, x.shape)):
        shown = tuple("*" if e is None else e for e in expected)
        raise ValueError(f"{name}: expected shape {shown}, received {tuple(x.shape)}")


def _activation(name: str) -> nn.Module:
    if name not in ACTIVATIONS:
        raise ValueError(f"unknown activation {name!r}; choose from {sorted(ACTIVATIONS)}")
    return ACTIVATIONS[name]()


class MLP(nn.Module):
    """x (B, in_dim) -> (B, out_dim), ``depth`` hidden layers of width ``hidden``."""

    def __init__(self, in_dim: int, out_dim: int, hidden: int = 128, depth: int = 3,
                 activation: str = "silu"):
        super().__init__()
        layers: list[nn.Module] = []
        d = in_dim
        for _ in range(depth):
            layers += [nn.Linear(d, hidden), _activation(activation)]
            d = hidden
        layers.append(nn.Linear(d, out_dim))
        self.net = nn.Sequential(*layers)
        self.in_dim = in_dim
        self.out_dim = out_dim

    def forward(self, x: Tensor) -> Tensor:
        check_shape(f"{type(self).__name__} input", x, (None, self.in_dim))
        return self.net(x)


class FourierFeatures(nn.Module):
    """Random Fourier features (Tancik et al. 2020): x -> [x, sin(2 pi B x), cos(2 pi B x)] with a
    fixed B ~ N(0, scale^2) of shape (num, in_dim) drawn from ``seed``. Lets an MLP fit
    high-frequency structure (e.g. the angular modes of a 2D mixture) in few steps."""

    B: Tensor

    def __init__(self, in_dim: int, num: int, scale: float = 1.0, seed: int = 0):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.register_buffer("B", torch.randn(num, in_dim, generator=g) * scale)
        self.out_dim = in_dim + 2 * num

    def forward(self, x: Tensor) -> Tensor:
        proj = 2 * math.pi * x @ self.B.T
        return torch.cat([x, torch.sin(proj), torch.cos(proj)], dim=-1)


class SinusoidalEmbedding(nn.Module):
    """Transformer-style embedding of a (continuous) time: [sin(t w_i), cos(t w_i)],
    w_i = max_period^(-i / (dim/2)). ``scale`` multiplies t first (e.g. 1000 for t in [0, 1])."""

    freqs: Tensor

    def __init__(self, dim: int, max_period: float = 10000.0, scale: float = 1.0):
        super().__init__()
        if dim % 2:
            raise ValueError(f"embedding dim must be even, got {dim}")
        half = dim // 2
        freqs = torch.exp(-math.log(max_period) * torch.arange(half, dtype=torch.float32) / half)
        self.register_buffer("freqs", freqs, persistent=False)
        self.scale = scale
        self.dim = dim

    def forward(self, t: Tensor) -> Tensor:
        args = (t.to(torch.float32) * self.scale)[:, None] * self.freqs[None]
        return torch.cat([torch.sin(args), torch.cos(args)], dim=-1)


class TimeMLP(nn.Module):
    """f(x, t): x (B, in_dim), t (B,) float or long -> (B, out_dim).

    The time embedding is added to every hidden layer (a per-layer projection), which trains
    better for diffusion in low dimension than plain concatenation. ``features`` (e.g.
    :class:`FourierFeatures`, with ``out_dim``) maps x before the first layer.

    ``dedup_times`` (an attribute, off by default; :func:`set_dedup_times` sets it on every
    TimeMLP of a module): a batch that mixes a few distinct times (T-step chains: transitions drawn
    from all T steps) embeds and projects each distinct time once and gathers the rows, instead of
    running the time MLP and the projections on every row. Fewer matrix products (about half those
    of a forward pass at width 128), but the rows come from products over fewer rows, whose last
    bits can differ, so it is an option.
    """

    def __init__(self, in_dim: int, out_dim: int, hidden: int = 128, depth: int = 3,
                 time_dim: int = 64, time_scale: float = 1.0, activation: str = "silu",
                 features: nn.Module | None = None, dedup_times: bool = False):
        super().__init__()
        self.dedup_times = dedup_times
        self.in_dim = in_dim
        self.out_dim = out_dim
        self.features = features
        self.embed = SinusoidalEmbedding(time_dim, scale=time_scale)
        self.time_mlp = nn.Sequential(nn.Linear(time_dim, hidden), _activation(activation))
        self.inp = nn.Linear(int(getattr(features, "out_dim", in_dim)) if features is not None else in_dim, hidden)
        self.layers = nn.ModuleList(nn.Linear(hidden, hidden) for _ in range(depth - 1))
        self.time_proj = nn.ModuleList(nn.Linear(hidden, hidden) for _ in range(depth))
        self.act = _activation(activation)
        self.out = nn.Linear(hidden, out_dim)

    def forward(self, x: Tensor, t: Tensor) -> Tensor:
        check_shape(f"{type(self).__name__} input x", x, (None, self.in_dim))
        check_shape(f"{type(self).__name__} input t", t, (x.shape[0],))
        # Rollouts and samplers pass one t for the whole batch: embed each distinct t once.
        if t.numel() > 1 and bool((t == t[0]).all()):
            emb = self.time_mlp(self.embed(t[:1]))
            projected = [proj(emb) for proj in self.time_proj]  # (1, hidden), broadcast over the batch
        elif self.dedup_times and t.numel() > 1:
            distinct, rows = torch.unique(t, return_inverse=True)
            emb = self.time_mlp(self.embed(distinct))
            projected = [proj(emb)[rows] for proj in self.time_proj]
        else:
            emb = self.time_mlp(self.embed(t))
            projected = [proj(emb) for proj in self.time_proj]
        h = self.act(self.inp(self.features(x) if self.features is not None else x) + projected[0])
        for layer, pe in zip(self.layers, projected[1:]):
            h = self.act(layer(h) + pe)
        return self.out(h)


def set_dedup_times(module: nn.Module, on: bool = True) -> int:
    """Set :attr:`TimeMLP.dedup_times` on every TimeMLP inside ``module``; returns how many."""
    nets = [m for m in module.modules() if isinstance(m, TimeMLP)]
    for m in nets:
        m.dedup_times = on
    return len(nets)
