"""MLP energy for vectors."""

from __future__ import annotations

from torch import Tensor, nn
from torch.nn.utils.parametrizations import spectral_norm as _spectral_norm

from dxmi.energies.base import Energy
from dxmi.nets.mlp import MLP, FourierFeatures


class MLPEnergy(Energy):
    """E(x) = MLP(x M) (or MLP of random Fourier features of x M) + quadratic * mean_d x_d^2 / 2, x (B, D).

    ``net_input`` M (D, D), fixed (a buffer, saved with the weights; default the identity, no
    product): a linear map of what the network sees, while the base energy measures x itself. The
    anomaly detector whitens x so that the base is a Mahalanobis distance, and can give the network
    the merely standardised coordinates (M = W^-1), whose distances are the data's own.

    ``spectral_norm`` constrains every linear layer to spectral norm 1 (a Lipschitz energy, which
    keeps EBM training stable on small data); ``quadratic`` > 0 adds a fixed Gaussian base energy
    so that points far from the data have high energy whatever the network does there (the
    energy-magnitude regulariser acts on the network's output only, see :meth:`magnitude`).
    """

    def __init__(self, dim: int, hidden: int = 128, depth: int = 3, activation: str = "silu",
                 fourier_features: int = 0, fourier_scale: float = 1.0, spectral_norm: bool = False,
                 quadratic: float = 0.0, net_input: Tensor | None = None):
        super().__init__((dim,))
        if net_input is not None and tuple(net_input.shape) != (dim, dim):
            raise ValueError(f"net_input must be a ({dim}, {dim}) matrix, received shape {tuple(net_input.shape)}")
        self.net_input: Tensor | None
        self.register_buffer("net_input", None if net_input is None else net_input.detach().clone())
        self.features = FourierFeatures(dim, fourier_features, fourier_scale) if fourier_features > 0 else None
        in_dim = self.features.out_dim if self.features is not None else dim
        self.net = MLP(in_dim, 1, hidden=hidden, depth=depth, activation=activation)
        if spectral_norm:
            for m in self.net.modules():
                if isinstance(m, nn.Linear):
                    _spectral_norm(m)
        if quadratic < 0:
            raise ValueError(f"quadratic must be >= 0, got {quadratic}")
        self.quadratic = quadratic

    def base(self, x: Tensor) -> Tensor:
        """The fixed base energy quadratic * mean_d x_d^2 / 2: (B,)."""
        return self.quadratic * 0.5 * (x**2).mean(1)

    def energy(self, x: Tensor) -> Tensor:
        h = x if self.net_input is None else x @ self.net_input
        h = self.features(h) if self.features is not None else h
        e = self.net(h).squeeze(-1)
        return e + self.base(x) if self.quadratic > 0 else e

    def magnitude(self, x: Tensor, e: Tensor) -> Tensor:
        """Only the network's output is regularised, not the fixed base energy."""
        return e - self.base(x) if self.quadratic > 0 else e
