"""dxmi.policies.ddpm: the DDPM subsequence policy's mean and gain by hand."""

import torch
from torch import nn

from dxmi.policies import DDPMSubsequencePolicy
from dxmi.schedules import LinearBetaSchedule, UniformSubsequence


def test_ddpm_policy_mean_by_hand():
    base = LinearBetaSchedule()
    st = UniformSubsequence().build(base, 4)

    class ConstEps(nn.Module):
        def forward(self, x, k):
            return torch.ones_like(x)

    pol = DDPMSubsequencePolicy(ConstEps(), st, (2,))
    x = torch.full((1, 2), 0.7)
    t = torch.tensor([1])
    eta, ab = st.eta[1].item(), st.alpha_hat[1].item()
    expected = (0.7 - eta / (1 - ab) ** 0.5) / (1 - eta) ** 0.5
    assert torch.allclose(pol.mean(x, t), torch.full((1, 2), expected), atol=1e-5)


def test_ddpm_policy_gain_by_hand():
    st = UniformSubsequence().build(LinearBetaSchedule(), 4)
    pol = DDPMSubsequencePolicy(nn.Identity(), st, (2,))
    eta, ab = st.eta, st.alpha_hat
    expected = eta / ((1 - ab).sqrt() * (1 - eta).sqrt())
    assert torch.allclose(pol.mean_gain().double(), expected, rtol=1e-5)
    assert pol.mean_gain()[0] > 5 * pol.mean_gain()[-1]  # the first steps amplify the network most
