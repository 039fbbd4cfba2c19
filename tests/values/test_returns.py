"""dxmi.values.returns: TD(lambda) returns are the weighted n-step returns, check their inputs, and
are the Monte Carlo returns at lambda = 1."""

from __future__ import annotations

import pytest
import torch

from dxmi.values import lambda_returns, monte_carlo_returns


def test_monte_carlo_returns_are_lambda_returns_at_one():
    g = torch.Generator().manual_seed(0)
    costs, terminal = torch.randn(6, 4, generator=g), torch.randn(4, generator=g)
    mc = monte_carlo_returns(costs, terminal)
    torch.testing.assert_close(mc, lambda_returns(costs, torch.randn(5, 4, generator=g), terminal, 1.0))
    torch.testing.assert_close(mc[0], terminal + costs.sum(0))
    torch.testing.assert_close(mc[-1], terminal + costs[-1])


def _n_step_mixture(c, v, e, lam):
    """(1 - lam) sum_n lam^(n-1) G^(n) + lam^(T-1-t) G^(T-t), from explicit n-step returns."""
    T, B = c.shape
    boot = torch.cat([v, e[None]])  # boot[k] = V(x_{k+1}, k + 1), boot[T-1] = E(x_T)
    out = torch.empty(T, B, dtype=c.dtype)
    for t in range(T):
        n_max = T - t
        g = [c[t:t + n].sum(0) + boot[t + n - 1] for n in range(1, n_max + 1)]
        out[t] = sum((1 - lam) * lam ** (n - 1) * g[n - 1] for n in range(1, n_max)) + lam ** (n_max - 1) * g[-1]
    return out


@pytest.mark.parametrize("lam", [0.0, 0.3, 0.7, 1.0])
def test_lambda_returns_are_the_weighted_n_step_returns(lam):
    g = torch.Generator().manual_seed(0)
    c, v, e = (torch.randn(6, 4, generator=g, dtype=torch.float64), torch.randn(5, 4, generator=g, dtype=torch.float64),
               torch.randn(4, generator=g, dtype=torch.float64))
    out = lambda_returns(c, v, e, lam)
    torch.testing.assert_close(out, _n_step_mixture(c, v, e, lam))
    if lam == 0.0:  # one-step TD targets
        torch.testing.assert_close(out, c + torch.cat([v, e[None]]))
    if lam == 1.0:  # the cost of the rest of the path
        torch.testing.assert_close(out, c.flip(0).cumsum(0).flip(0) + e)


def test_lambda_returns_check_their_inputs():
    with pytest.raises(ValueError, match=r"lambda must be in \[0, 1\]"):
        lambda_returns(torch.zeros(3, 2), torch.zeros(2, 2), torch.zeros(2), 1.5)
    with pytest.raises(ValueError, match=r"next_values: expected shape \(2, 2\), received \(3, 2\)"):
        lambda_returns(torch.zeros(3, 2), torch.zeros(3, 2), torch.zeros(2), 0.5)
