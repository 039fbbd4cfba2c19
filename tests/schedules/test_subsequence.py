"""dxmi.schedules.subsequence: FastDPM's quadratic rule, the uniform subsequence, unknown names."""

import math

import pytest
import torch

from dxmi.schedules import (
    FastDPMQuadratic,
    LinearBetaSchedule,
    UniformSubsequence,
    make_subsequence,
)


def test_fastdpm_quadratic_t10_reference_numbers():
    """The spec's reference: the bisection hits the cap x = 9.5 for T = 10."""
    st = FastDPMQuadratic().build(LinearBetaSchedule(), 10)
    eta_data_side = torch.flip(st.eta, [0])
    expected = [1e-4, 0.011025, 0.04, 0.087025, 0.1521, 0.235225, 0.3364, 0.455625, 0.5929, 0.748225]
    assert torch.allclose(eta_data_side, torch.tensor(expected, dtype=torch.float64), atol=1e-9)
    assert st.alpha_hat[0].item() == pytest.approx(0.0208, abs=1e-4)
    ts = [616.7, 494.0, 394.1, 308.9, 234.9, 170.3, 114.4, 66.9, 28.3, 0.0]
    assert torch.allclose(st.timesteps, torch.tensor(ts, dtype=torch.float64), atol=0.06)
    sig = [0.837, 0.718, 0.599, 0.485, 0.377, 0.277, 0.182, 0.094, 0.00996, 0.001]
    assert torch.allclose(st.sigma, torch.tensor(sig, dtype=torch.float64), atol=6e-4)  # the spec rounds to 3 decimals


def test_fastdpm_bisection_reaches_target_when_cap_not_binding():
    base = LinearBetaSchedule()
    eta = FastDPMQuadratic().eta(base, 50)
    assert torch.prod(1 - eta).item() == pytest.approx(base.alpha_bar[-1].item(), rel=1e-6)


def test_uniform_subsequence_starts_at_full_noise_and_posterior_std():
    base = LinearBetaSchedule()
    st = UniformSubsequence().build(base, 4, last_sigma=1e-3)
    assert st.alpha_hat[0].item() == pytest.approx(base.alpha_bar[-1].item(), rel=1e-9)
    # posterior std of step 0 by hand: eta (1 - ab_prev) / (1 - ab)
    ab, ab_prev = st.alpha_hat[0], st.alpha_hat[1]
    assert st.sigma[0].item() == pytest.approx(math.sqrt(st.eta[0] * (1 - ab_prev) / (1 - ab)), rel=1e-9)
    assert st.sigma[-1].item() == pytest.approx(1e-3)


def test_unknown_subsequence_is_an_error():
    with pytest.raises(ValueError, match="unknown subsequence"):
        make_subsequence("nope")
