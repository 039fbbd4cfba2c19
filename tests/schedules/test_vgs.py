"""dxmi.schedules.vgs: the VGS tables (s_t^2 shapes, VP / VE alpha_t, sigma_t = s_t alpha_t), their
errors, and the old import path."""

from __future__ import annotations

import math

import pytest
import torch

from dxmi.schedules.vgs import S2_SCHEDULES, VGSSchedule


@pytest.mark.parametrize("kind", sorted(S2_SCHEDULES))
def test_s2_runs_from_start_to_end(kind: str) -> None:
    s = VGSSchedule(7, 0.4, 0.01 if kind != "constant" else 0.4, kind, "ve")
    assert s.s2.dtype == torch.float32 and s.s2.shape == (7,)
    assert s.s2[0].item() == pytest.approx(0.4, rel=1e-6)
    assert s.s2[-1].item() == pytest.approx(0.01 if kind != "constant" else 0.4, rel=1e-6)


def test_quad_is_linear_in_s() -> None:
    s = VGSSchedule(5, 0.25, 0.01, "quad", "ve")
    torch.testing.assert_close(s.s2.sqrt(), torch.linspace(0.5, 0.1, 5), rtol=1e-6, atol=0)


def test_vp_and_ve_tables() -> None:
    vp, ve = VGSSchedule(4, 0.3, 0.05, "linear", "vp"), VGSSchedule(4, 0.3, 0.05, "linear", "ve")
    torch.testing.assert_close(vp.alpha, 1 / torch.sqrt(1 - vp.s2))
    torch.testing.assert_close(vp.sigma, vp.s2.sqrt() * vp.alpha)
    assert bool((ve.alpha == 1).all())
    torch.testing.assert_close(ve.sigma, ve.s2.sqrt())
    one = VGSSchedule(1, 0.2, 0.9, "quad", "vp")  # T = 1 takes s2_start
    assert one.sigma.item() == pytest.approx(math.sqrt(0.2 / 0.8), rel=1e-6)


def test_errors() -> None:
    with pytest.raises(ValueError, match="num_steps"):
        VGSSchedule(0, 0.1, 0.1)
    with pytest.raises(ValueError, match="unknown s\\^2 schedule"):
        VGSSchedule(3, 0.1, 0.1, "cubic")
    with pytest.raises(ValueError, match="variant"):
        VGSSchedule(3, 0.1, 0.1, "quad", "sde")
    with pytest.raises(ValueError, match="> 0"):
        VGSSchedule(3, 0.0, 0.1)
    with pytest.raises(ValueError, match="VP needs"):
        VGSSchedule(3, 1.0, 0.1, "quad", "vp")


def test_old_import_paths_are_the_same_objects() -> None:
    import dxmi.samplers
    import dxmi.samplers.vgs
    import dxmi.schedules

    for mod in (dxmi.samplers, dxmi.samplers.vgs, dxmi.schedules):
        assert mod.VGSSchedule is VGSSchedule and mod.S2_SCHEDULES is S2_SCHEDULES
