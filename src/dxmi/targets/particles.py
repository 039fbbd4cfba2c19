"""Particle systems: DW-4 (4 particles in 2D) and LJ-13 (13 particles in 3D).

Both energies are invariant to translation, rotation and permutation of the particles. States are
flat ``(B, n * d)``; samplers keep them centre-of-mass free (see :meth:`Target.project`) and the
effective dimension of the running cost is ``(n - 1) d``. Reference samples (long MCMC, as
distributed with the VGS release) are read from ``../shared/data/particles/``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from dxmi.io import load_npy
from dxmi.targets.base import Target, remove_com


def pair_distances(x: Tensor, particles: tuple[int, int], eps: float = 0.0) -> Tensor:
    """Distances of the unordered pairs i < j: ``(B, n*d) -> (B, n(n-1)/2)``,
    ``d_ij = sqrt(||x_i - x_j||^2 + eps)``."""
    n, d = particles
    if x.ndim != 2 or x.shape[1] != n * d:
        raise ValueError(f"pair_distances: expected (B, {n * d}), received {tuple(x.shape)}")
    xs = x.reshape(-1, n, d)
    iu = torch.triu_indices(n, n, offset=1, device=x.device)
    diff = xs[:, iu[0]] - xs[:, iu[1]]
    return torch.sqrt((diff * diff).sum(-1) + eps)


class ParticleTarget(Target):
    """Base of particle systems: ``particles = (n, d)``; ``dim = n d``; reference file stem."""

    ref_stem: str = ""

    def __init__(self, n_particles: int, spatial_dim: int):
        super().__init__(n_particles * spatial_dim)
        self.particles = (n_particles, spatial_dim)

    def reference_samples(self, split: str = "test", data_dir: str | Path | None = None) -> Tensor:
        """Reference samples ``(N, n d)`` (centre of mass removed) from the shared data folder.

        ``split``: ``"test"`` (DW-4 8192, LJ-13 10000) or ``"val"`` (2000 each). Raises
        FileNotFoundError naming the missing file when the folder is absent.
        """
        folder = Path(data_dir) if data_dir is not None else default_particles_dir()
        name = f"test_{self.ref_stem}.npy" if split == "test" else f"val_{self.ref_stem}_2000.npy"
        path = folder / name
        if not path.is_file():
            raise FileNotFoundError(f"reference samples {path} not found (needs ../shared/data/particles)")
        arr = load_npy(path, "reference samples").astype(np.float32).reshape(-1, self.dim)
        return remove_com(torch.from_numpy(arr), self.particles)  # type: ignore[arg-type]


def default_particles_dir() -> Path:
    """``<repo>/../shared/data/particles``, the repository being the parent of ``src/``."""
    repo = Path(__file__).resolve().parents[3]
    return repo.parent / "shared" / "data" / "particles"


class DW4(ParticleTarget):
    """Double well, 4 particles in 2D (D = 8):
    ``E(x) = sum_{i<j} a (d_ij - d0)^4 + b (d_ij - d0)^2 + c`` with a = 0.9, b = -4, c = 0, d0 = 4."""

    ref_stem = "DW4"
    plot_range = 5.0

    def __init__(self, a: float = 0.9, b: float = -4.0, c: float = 0.0, d0: float = 4.0):
        super().__init__(4, 2)
        self.a, self.b, self.c, self.d0 = a, b, c, d0

    def energy(self, x: Tensor) -> Tensor:
        r = pair_distances(x, (4, 2)) - self.d0
        return (self.a * r**4 + self.b * r**2 + self.c).sum(-1)


class LJ13(ParticleTarget):
    """Lennard-Jones, 13 particles in 3D (D = 39):
    ``E(x) = eps sum_{i != j} [(r_m/d_ij)^12 - 2 (r_m/d_ij)^6] + (c/2) sum_i ||x_i - mean(x)||^2``,
    the first sum over ORDERED pairs (twice the unordered sum), ``d_ij = sqrt(||x_i - x_j||^2 + 1e-6)``."""

    ref_stem = "LJ13"
    plot_range = 3.0

    def __init__(self, eps: float = 1.0, rm: float = 1.0, c: float = 1.0, n_particles: int = 13):
        super().__init__(n_particles, 3)
        self.eps, self.rm, self.c = eps, rm, c

    def energy(self, x: Tensor) -> Tensor:
        assert self.particles is not None
        d = pair_distances(x, self.particles, eps=1e-6)
        s6 = (self.rm / d) ** 6
        lj = 2 * self.eps * (s6 * s6 - 2 * s6).sum(-1)
        xs = x.reshape(x.shape[0], *self.particles)
        centred = xs - xs.mean(dim=1, keepdim=True)
        return lj + 0.5 * self.c * (centred * centred).sum((-1, -2))
