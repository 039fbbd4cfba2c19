"""An E(n)-equivariant graph network for particle systems (after Satorras, Hoogeboom and Welling
2021, "E(n) Equivariant Graph Neural Networks"), with a scalar, time-conditioned, invariant output.

The particles are the nodes of the fully connected graph. Per layer ``l`` (``n`` particles,
``x_i`` their coordinates, ``h_i`` their features, ``e`` the time embedding)::

    m_ij    = phi_e(h_i, h_j, ||x_i - x_j||^2, ||x_i - x_j||, e)           (i != j)
    x_i    <- x_i + 1/(n-1) sum_j (x_i - x_j) / (||x_i - x_j|| + 1) tanh(w_x . m_ij)
    h_i    <- h_i + phi_h(h_i, 1/(n-1) sum_j m_ij, e)

with ``h_i = W e`` at the start: the particles are identical, so only the time tells them
anything. After ``L`` layers the output is ``phi_out(1/n sum_i h_i) + mean_{i != j} w . m_ij``
(the second term, over the last layer's messages, is a learned pair potential, the form of the
particle energies themselves). The coordinate update of the last layer would not reach the output
and is left out.

Every input of the messages is a distance, the aggregations are sums over particles and the
coordinate update is a combination of differences ``x_i - x_j``: the output is invariant to
rotations and reflections, translations and permutations of the particles, so its gradient in
``x`` is equivariant (rotates and permutes with ``x``) and sums to zero over the particles. The
normalised differences and the ``tanh`` bound each coordinate update by 1 (stable when particles
come close or fly apart).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from dxmi.nets.mlp import SinusoidalEmbedding, _activation, check_shape

__all__ = ["EGNN"]


class _EGNNLayer(nn.Module):
    """One message-passing layer over the ordered pairs ``i != j`` (see the module docstring)."""

    def __init__(self, hidden: int, activation: str, update_coords: bool):
        super().__init__()
        # phi_e's first linear map on the concatenation [h_i, h_j, r2, r, e], split by input so
        # that the node terms are computed once per node rather than once per edge
        self.edge_i = nn.Linear(hidden, hidden)
        self.edge_j = nn.Linear(hidden, hidden, bias=False)
        self.edge_r = nn.Linear(2, hidden, bias=False)
        self.edge_t = nn.Linear(hidden, hidden, bias=False)
        self.edge_out = nn.Linear(hidden, hidden)
        self.node = nn.Sequential(nn.Linear(3 * hidden, hidden), _activation(activation), nn.Linear(hidden, hidden))
        # phi_x: linear on the message (itself the output of an MLP), one number per edge
        self.coord = nn.Linear(hidden, 1) if update_coords else None
        self.act = _activation(activation)

    def forward(self, h: Tensor, x: Tensor, emb: Tensor, src: Tensor, dst: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """``h (B, n, H)``, ``x (B, n, d)``, ``emb (B or 1, H)``; ``src``, ``dst`` the ``n (n - 1)``
        ordered pairs grouped by ``src`` -> new ``h``, new ``x`` and the messages ``(B, n (n-1), H)``."""
        B, n, H = h.shape
        diff = x[:, src] - x[:, dst]  # (B, E, d)
        r2 = (diff * diff).sum(-1, keepdim=True)
        r = torch.sqrt(r2 + 1e-8)
        pre = (self.edge_i(h)[:, src] + self.edge_j(h)[:, dst] + self.edge_r(torch.cat([r2, r], -1))
               + self.edge_t(emb)[:, None])
        m = self.act(self.edge_out(self.act(pre)))  # (B, E, H)
        if self.coord is not None:
            w = torch.tanh(self.coord(m))  # (B, E, 1)
            shift = (diff / (r + 1.0) * w).reshape(B, n, n - 1, -1).sum(2) / (n - 1)
            x = x + shift
        agg = m.reshape(B, n, n - 1, H).sum(2) / (n - 1)
        h = h + self.node(torch.cat([h, agg, emb[:, None].expand(B, n, H)], -1))
        return h, x, m


class EGNN(nn.Module):
    """``f(x, t)``: ``x (B, n d)`` (flat coordinates of ``n`` particles in ``d`` dimensions),
    ``t (B,)`` float or long -> ``(B,)``, invariant to E(d) and to permutations of the particles.

    Args:
        n_particles, spatial_dim: ``n`` and ``d``.
        hidden: width of the node features, messages and MLPs.
        layers: message-passing layers (>= 1).
        time_dim: size of the sinusoidal time embedding.
        activation: a name of :data:`dxmi.nets.mlp.ACTIVATIONS`.
        dedup_times: embed each distinct time of a batch once (as :attr:`TimeMLP.dedup_times`);
            a batch with one time is always embedded once.
        coord_updates: update the coordinates between layers (False: messages over the input
            distances only, an invariant network without the equivariant coordinate stream).
    """

    src: Tensor
    dst: Tensor

    def __init__(self, n_particles: int, spatial_dim: int, hidden: int = 64, layers: int = 3, time_dim: int = 64,
                 activation: str = "silu", dedup_times: bool = False, coord_updates: bool = True):
        super().__init__()
        if n_particles < 2 or spatial_dim < 1 or layers < 1 or hidden < 1:
            raise ValueError(f"EGNN needs n_particles >= 2, spatial_dim >= 1, layers >= 1 and hidden >= 1, got "
                             f"{n_particles}, {spatial_dim}, {layers}, {hidden}")
        self.n, self.d = n_particles, spatial_dim
        self.in_dim = n_particles * spatial_dim
        self.dedup_times = dedup_times
        self.embed = SinusoidalEmbedding(time_dim)
        self.time_mlp = nn.Sequential(nn.Linear(time_dim, hidden), _activation(activation), nn.Linear(hidden, hidden))
        self.node_init = nn.Linear(hidden, hidden)
        self.layers = nn.ModuleList(_EGNNLayer(hidden, activation, update_coords=coord_updates and k < layers - 1)
                                    for k in range(layers))
        self.readout = nn.Sequential(nn.Linear(hidden, hidden), _activation(activation), nn.Linear(hidden, 1))
        self.pair_readout = nn.Linear(hidden, 1)
        idx = torch.arange(n_particles)
        src, dst = torch.meshgrid(idx, idx, indexing="ij")
        off = src != dst  # row-major: the pairs of each i are consecutive, n - 1 of them
        self.register_buffer("src", src[off], persistent=False)
        self.register_buffer("dst", dst[off], persistent=False)

    def _time(self, t: Tensor, dtype: torch.dtype) -> Tensor:
        """The time embedding ``(B, H)``, or ``(1, H)`` when the batch has one time."""
        if t.numel() > 1 and bool((t == t[0]).all()):
            return self.time_mlp(self.embed(t[:1]).to(dtype))
        if self.dedup_times and t.numel() > 1:
            distinct, rows = torch.unique(t, return_inverse=True)
            return self.time_mlp(self.embed(distinct).to(dtype))[rows]
        return self.time_mlp(self.embed(t).to(dtype))

    def forward(self, x: Tensor, t: Tensor) -> Tensor:
        check_shape(f"{type(self).__name__} input x", x, (None, self.in_dim))
        check_shape(f"{type(self).__name__} input t", t, (x.shape[0],))
        B = x.shape[0]
        emb = self._time(t, x.dtype)  # (B, H) or (1, H), broadcast over the batch
        xs = x.reshape(B, self.n, self.d)
        h = self.node_init(emb)[:, None].expand(B, self.n, -1)
        m = h
        for layer in self.layers:
            h, xs, m = layer(h, xs, emb, self.src, self.dst)
        return self.readout(h.mean(1)).squeeze(-1) + self.pair_readout(m).mean((1, 2))
