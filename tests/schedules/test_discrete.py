"""dxmi.schedules.discrete: the continuous-time alpha-bar of the linear schedule and its inverse."""

import torch

from dxmi.schedules import LinearBetaSchedule


def test_linear_continuous_alpha_bar_matches_table_at_integers():
    s = LinearBetaSchedule()
    k = torch.tensor([0.0, 1.0, 10.0, 500.0, 999.0])
    assert torch.allclose(s.log_alpha_bar_continuous(k).exp(), s.alpha_bar[k.long()], rtol=1e-9)


def test_continuous_index_inverts_alpha_bar():
    s = LinearBetaSchedule()
    k = torch.tensor([3.25, 100.5, 777.7], dtype=torch.float64)
    ab = s.log_alpha_bar_continuous(k).exp()
    assert torch.allclose(s.continuous_index(ab), k, atol=1e-6)
