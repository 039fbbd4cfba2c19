"""Targets for learning a T-step value by temporal differences."""

from __future__ import annotations

import torch
from torch import Tensor

from dxmi.nets.mlp import check_shape


def lambda_returns(costs: Tensor, next_values: Tensor, terminal: Tensor, lam: float) -> Tensor:
    """TD(lambda) returns along given trajectories of a T-step chain, computed backwards::

        G_{T-1} = c_{T-1} + E(x_T),
        G_t     = c_t + (1 - lambda) V(x_{t+1}, t + 1) + lambda G_{t+1},   t = T-2 .. 0.

    Equivalently ``G_t = (1 - lambda) sum_{n >= 1} lambda^{n-1} G_t^(n)`` with the n-step returns
    ``G_t^(n) = c_t + ... + c_{t+n-1} + V(x_{t+n}, t + n)`` (``V(., T) = E``), the weight of the
    longest return being ``lambda^{T-1-t}``. ``lambda = 0`` gives the one-step TD targets,
    ``lambda = 1`` the cost of the rest of the path (Monte Carlo).

    Args:
        costs: ``(T, B)`` running costs ``c_t``.
        next_values: ``(T - 1, B)`` bootstrap values ``V(x_{t+1}, t + 1)`` for t = 0..T-2.
        terminal: ``(B,)`` terminal costs ``E(x_T)``.
        lam: lambda in [0, 1].
    Returns:
        ``(T, B)`` the returns ``G_t``.
    """
    if not 0.0 <= lam <= 1.0:
        raise ValueError(f"lambda must be in [0, 1], got {lam}")
    check_shape("lambda_returns costs", costs, (None, None))
    T, B = costs.shape
    check_shape("lambda_returns next_values", next_values, (T - 1, B))
    check_shape("lambda_returns terminal", terminal, (B,))
    out = costs.new_empty(T, B)
    g = terminal
    for t in reversed(range(T)):
        boot = g if t == T - 1 else (1 - lam) * next_values[t] + lam * g
        g = costs[t] + boot
        out[t] = g
    return out


def monte_carlo_returns(costs: Tensor, terminal: Tensor) -> Tensor:
    """The cost of the rest of each path, ``G_t = E(x_T) + sum_{k >= t} c_k`` (a reverse cumulative
    sum over t): :func:`lambda_returns` at ``lambda = 1`` without bootstrap values, equal up to the
    order of the floating-point additions.

    Args:
        costs: ``(T, B)`` running costs ``c_t``.
        terminal: ``(B,)`` terminal costs ``E(x_T)``.
    Returns:
        ``(T, B)`` the returns ``G_t``.
    """
    check_shape("monte_carlo_returns costs", costs, (None, None))
    check_shape("monte_carlo_returns terminal", terminal, (costs.shape[1],))
    return terminal[None] + torch.flip(torch.cumsum(torch.flip(costs, [0]), 0), [0])
