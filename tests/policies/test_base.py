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


def test_fixed_sigma_table_and_the_step_hooks():
    """``learn_sigma=False``: the whole std table is a buffer; ``sigma_at`` and ``project_noise`` are
    what the step uses (here: a table read directly and noise with its mean removed)."""
    from dxmi.policies import GaussianPolicy

    class Centred(GaussianPolicy):
        def __init__(self):
            super().__init__((4,), [0.5, 0.25], learn_sigma=False)
            self.table = torch.tensor([0.5, 0.25])

        def mean(self, x, t, y=None):
            return 0.5 * x

        def sigma_at(self, t):
            return self.table[t]

        def project_noise(self, noise):
            return noise - noise.mean(1, keepdim=True)

    pol = Centred()
    assert pol.log_sigma_free.numel() == 0 and not pol.log_sigma_free.requires_grad
    assert "log_sigma_fixed" in dict(pol.named_buffers())
    torch.testing.assert_close(pol.log_sigma, torch.tensor([0.5, 0.25]).log())
    x, noise = torch.randn(3, 4), torch.randn(3, 4)
    st = pol.step(x, 1, noise=noise)
    assert torch.equal(st.next_x, 0.5 * x + 0.25 * (noise - noise.mean(1, keepdim=True)))
    assert st.next_x.sum(1).sub(0.5 * x.sum(1)).abs().max() < 1e-5
