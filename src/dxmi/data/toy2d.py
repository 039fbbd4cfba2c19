"""Synthetic 2-D densities used to train and evaluate samplers.

Every dataset draws ``(n, 2)`` float32 samples and takes all its randomness from an optional
``torch.Generator``: with a seeded generator the draw is deterministic. Densities are scaled to
lie roughly in ``[-4, 4]^2``.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod

import torch
from torch import Tensor

__all__ = [
    "TOY2D",
    "Checkerboard",
    "EightGaussians",
    "Moons",
    "Pinwheel",
    "Rings",
    "SwissRoll",
    "Toy2D",
    "TwoSpirals",
    "make_toy2d",
]


def _randn(n: int, d: int, generator: torch.Generator | None) -> Tensor:
    return torch.randn(n, d, generator=generator, dtype=torch.float64)


def _rand(n: int, generator: torch.Generator | None) -> Tensor:
    return torch.rand(n, generator=generator, dtype=torch.float64)


def _randint(high: int, n: int, generator: torch.Generator | None) -> Tensor:
    return torch.randint(0, high, (n,), generator=generator)


def _check_n(n: int) -> None:
    if not isinstance(n, int) or isinstance(n, bool) or n < 0:
        raise ValueError(f"n must be a non-negative int, got {n!r}")


class Toy2D(ABC):
    """A distribution one can sample from.

    Subclasses set ``name`` and implement :meth:`sample`, which returns a ``(n, dim)`` float32
    tensor on the CPU. For the toy densities ``dim == 2``.
    """

    name: str = ""

    @property
    def dim(self) -> int:
        """Dimension ``D`` of one sample."""
        return 2

    @abstractmethod
    def sample(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """Draw ``n`` samples, shape ``(n, dim)``, float32."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r})"


class EightGaussians(Toy2D):
    """The DxMI paper's 8-Gaussian mixture.

    Modes ``c_k = (4 cos(k pi/4), 4 sin(k pi/4)) / 1.414`` for ``k = 0..7`` with equal weights
    and isotropic std ``sigma = 0.5 / 1.414``: ``x = (c + 0.5 * eps) / 1.414``,
    ``eps ~ N(0, I)``.
    """

    name = "8gaussians"
    scale = 1.414
    radius = 4.0

    def __init__(self) -> None:
        angles = torch.arange(8, dtype=torch.float64) * (math.pi / 4)
        centers = self.radius * torch.stack([torch.cos(angles), torch.sin(angles)], dim=1)
        self._centers64 = centers / self.scale
        self.centers: Tensor = self._centers64.float()
        """``(8, 2)`` mode centres after scaling."""
        self.std: float = 0.5 / self.scale
        """Per-coordinate std of every mode after scaling."""

    def sample(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        _check_n(n)
        idx = _randint(8, n, generator)
        x = self._centers64[idx] + self.std * _randn(n, 2, generator)
        return x.float()

    def log_prob(self, x: Tensor) -> Tensor:
        """Exact log-density of the mixture.

        ``log p(x) = logsumexp_k [-||x - c_k||^2 / (2 sigma^2)] - log(8) - log(2 pi sigma^2)``.

        Args:
            x: ``(n, 2)`` points.

        Returns:
            ``(n,)`` log-densities in the dtype of ``x`` (float32 if ``x`` is not floating).
        """
        if x.ndim != 2 or x.shape[1] != 2:
            raise ValueError(f"x must have shape (n, 2), got {tuple(x.shape)}")
        out_dtype = x.dtype if x.is_floating_point() else torch.float32
        x64 = x.to(torch.float64)
        c = self._centers64.to(x64.device)
        sq = ((x64[:, None, :] - c[None, :, :]) ** 2).sum(-1)
        var = self.std**2
        lp = torch.logsumexp(-sq / (2 * var), dim=1) - math.log(8) - math.log(2 * math.pi * var)
        return lp.to(out_dtype)


class TwoSpirals(Toy2D):
    """Two interleaved spirals.

    ``theta = 3 pi sqrt(u)``, ``u ~ U(0, 1)``; arm point ``theta (-cos theta, sin theta)``, the
    second arm is the point reflection through the origin; Gaussian noise of std 0.5 is added and
    everything is divided by 3 (so radii reach about ``pi``).
    """

    name = "2spirals"

    def sample(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        _check_n(n)
        theta = 3 * math.pi * torch.sqrt(_rand(n, generator))
        arm = torch.stack([-torch.cos(theta) * theta, torch.sin(theta) * theta], dim=1)
        sign = 1.0 - 2.0 * _randint(2, n, generator).to(torch.float64)
        x = sign[:, None] * arm + 0.5 * _randn(n, 2, generator)
        return (x / 3.0).float()


class Checkerboard(Toy2D):
    """Uniform density on the 8 "black" squares of a 4x4 board covering ``[-4, 4]^2``.

    Cells have side 2; cell ``(i, j)`` (``i, j = 0..3``, lower-left corner ``(2i - 4, 2j - 4)``)
    carries mass iff ``i + j`` is even, each with probability 1/8.
    """

    name = "checkerboard"

    def sample(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        _check_n(n)
        i = _randint(4, n, generator)
        # j has the parity of i: j = 2 * r + (i mod 2), r in {0, 1}.
        j = 2 * _randint(2, n, generator) + (i % 2)
        u = torch.rand(n, 2, generator=generator, dtype=torch.float64)
        corner = torch.stack([i, j], dim=1).to(torch.float64) * 2.0 - 4.0
        return (corner + 2.0 * u).float()


class SwissRoll(Toy2D):
    """2-D Swiss roll.

    ``t = 1.5 pi (1 + 2u)``, ``u ~ U(0, 1)``; ``x = (t cos t, t sin t) + eps``,
    ``eps ~ N(0, I)``, then divided by 5.
    """

    name = "swissroll"

    def sample(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        _check_n(n)
        t = 1.5 * math.pi * (1 + 2 * _rand(n, generator))
        x = torch.stack([t * torch.cos(t), t * torch.sin(t)], dim=1) + _randn(n, 2, generator)
        return (x / 5.0).float()


class Moons(Toy2D):
    """Two interleaving half circles.

    Upper moon ``(cos a, sin a)``, lower moon ``(1 - cos a, 0.5 - sin a)``, ``a ~ U(0, pi)``,
    noise std 0.1, then mapped by ``x -> 2 x + (-1, -0.2)``.
    """

    name = "moons"

    def sample(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        _check_n(n)
        a = math.pi * _rand(n, generator)
        lower = _randint(2, n, generator).bool()
        upper_pts = torch.stack([torch.cos(a), torch.sin(a)], dim=1)
        lower_pts = torch.stack([1 - torch.cos(a), 0.5 - torch.sin(a)], dim=1)
        x = torch.where(lower[:, None], lower_pts, upper_pts) + 0.1 * _randn(n, 2, generator)
        shift = torch.tensor([-1.0, -0.2], dtype=torch.float64)
        return (2.0 * x + shift).float()


class Rings(Toy2D):
    """Four concentric rings of radii 0.75, 1.5, 2.25, 3 (equal mass), angle uniform,
    radial-and-tangential Gaussian noise of std 0.08 per coordinate."""

    name = "rings"
    radii = (0.75, 1.5, 2.25, 3.0)

    def sample(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        _check_n(n)
        r = torch.tensor(self.radii, dtype=torch.float64)[_randint(len(self.radii), n, generator)]
        a = 2 * math.pi * _rand(n, generator)
        x = r[:, None] * torch.stack([torch.cos(a), torch.sin(a)], dim=1)
        return (x + 0.08 * _randn(n, 2, generator)).float()


class Pinwheel(Toy2D):
    """Five curved blades.

    A point starts at ``(1 + 0.3 e1, 0.1 e2)``, ``e ~ N(0, I)``; it is rotated by the angle
    ``2 pi k / 5 + 0.25 exp(1 + 0.3 e1)`` with blade ``k ~ U{0..4}``, then scaled by 2.
    """

    name = "pinwheel"
    n_blades = 5
    radial_std = 0.3
    tangential_std = 0.1
    rate = 0.25

    def sample(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        _check_n(n)
        e = _randn(n, 2, generator)
        px = 1.0 + self.radial_std * e[:, 0]
        py = self.tangential_std * e[:, 1]
        k = _randint(self.n_blades, n, generator).to(torch.float64)
        ang = 2 * math.pi * k / self.n_blades + self.rate * torch.exp(px)
        c, s = torch.cos(ang), torch.sin(ang)
        x = torch.stack([c * px - s * py, s * px + c * py], dim=1)
        return (2.0 * x).float()


TOY2D: dict[str, type[Toy2D]] = {
    cls.name: cls
    for cls in (EightGaussians, TwoSpirals, Checkerboard, SwissRoll, Moons, Rings, Pinwheel)
}
"""Registry of the toy densities, keyed by their ``name``."""


def make_toy2d(name: str) -> Toy2D:
    """Instantiate the toy dataset called ``name`` (a key of :data:`TOY2D`).

    Raises:
        ValueError: for an unknown name; the message lists the valid ones.
    """
    try:
        cls = TOY2D[name]
    except KeyError:
        valid = ", ".join(sorted(TOY2D))
        raise ValueError(f"unknown toy dataset {name!r}; valid names: {valid}") from None
    return cls()
