"""dxmi.schedules.karras: Karras sigmas against reference numbers; the ancestral split."""

from __future__ import annotations

import pytest
import torch

from dxmi.schedules.karras import KarrasSchedule, ancestral_split, karras_sigmas


def test_karras_t10_rho7_reference_numbers() -> None:
    s = KarrasSchedule.release(10)
    sig = [80, 42.42, 21.11, 9.723, 4.066, 1.502, 0.470, 0.1166, 0.0204, 0.002, 0]
    up = [35.96, 18.31, 8.630, 3.694, 1.396, 0.446, 0.113, 0.0201, 0.00199, 0]
    assert s.sigmas.dtype == torch.float64
    for got, want in zip(s.sigmas.tolist(), sig):
        assert got == pytest.approx(want, rel=2e-3, abs=1e-9)
    for got, want in zip(s.sigma_up.tolist(), up):
        assert got == pytest.approx(want, rel=3e-3, abs=1e-9)


def test_karras_t4_rho4_stochastic_last_reference_numbers() -> None:
    s = KarrasSchedule.release(4)
    for got, want in zip(s.sigmas.tolist(), [80, 27.78, 6.571, 0.6746, 0.002]):
        assert got == pytest.approx(want, rel=2e-3)
    for got, want in zip(s.sigma_up.tolist(), [26.06, 6.385, 0.671, 0.002]):
        assert got == pytest.approx(want, rel=2e-3)
    assert float(s.sigma_up[-1]) > 0  # the last step injects noise


def test_ancestral_split_preserves_variance() -> None:
    a = karras_sigmas(12, rho=5.0)
    up, down = ancestral_split(a[:-1], a[1:])
    assert torch.allclose(up**2 + down**2, a[1:] ** 2)
    assert bool((down <= a[1:]).all())
