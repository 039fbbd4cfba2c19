"""dxmi.policies.base: the Gaussian policy's log-probabilities, fixed last step, rollouts and shape errors."""

import pytest
import torch

from tests.helpers import AffinePolicy


def test_step_log_prob_matches_torch_distributions():
    pol = AffinePolicy(T=3, D=4)
    x = torch.randn(16, 4)
    t = torch.randint(0, 3, (16,))
    step = pol.step(x, t)
    expected = torch.distributions.Normal(pol.mean(x, t), pol.log_sigma[t].exp()[:, None]).log_prob(step.next_x).sum(1)
    assert torch.allclose(pol.log_prob(x, step.next_x, t), expected, atol=1e-5)


def test_fix_last_keeps_last_sigma_out_of_the_parameters():
    pol = AffinePolicy(T=3, D=2, sigma=0.3, fix_last=True)
    assert pol.log_sigma_free.shape == (2,)
    opt = torch.optim.SGD(pol.sigma_parameters(), lr=1.0)
    (-pol.log_sigma.sum()).backward()
    opt.step()
    assert pol.log_sigma[-1].item() == pytest.approx(torch.tensor(0.3).log().item())
    assert pol.log_sigma[0].item() > torch.tensor(0.3).log().item()
    free = AffinePolicy(T=3, D=2, fix_last=False)
    assert free.log_sigma_free.shape == (3,)


def test_rollout_is_reproducible_and_marginal_is_right():
    # a_t = 0.5, b = 0: x_{t+1} = 0.5 x_t + sigma eps -> Var x_T follows the recursion
    pol = AffinePolicy(T=3, D=2, sigma=0.5, fix_last=False)
    g1, g2 = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
    tr1, tr2 = pol.rollout(20000, g1), pol.rollout(20000, g2)
    assert torch.equal(tr1.states, tr2.states)
    var = 1.0
    for _ in range(3):
        var = 0.25 * var + 0.25
    assert tr1.samples.var(0).mean().item() == pytest.approx(var, rel=0.03)


def test_policy_rejects_bad_shapes_with_message():
    pol = AffinePolicy(T=2, D=3)
    with pytest.raises(ValueError, match=r"received \(4, 2\)"):
        pol.step(torch.zeros(4, 2), 0)
