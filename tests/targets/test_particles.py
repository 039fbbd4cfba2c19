"""dxmi.targets.particles: DW4 and LJ13 against hand-computed values, symmetries, reference energies."""

import math
from pathlib import Path

import pytest
import torch

from dxmi.targets import DW4, LJ13, remove_com

DATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "data"
needs_particles = pytest.mark.skipif(not (DATA / "particles").is_dir(),
                                     reason="../shared/data/particles (reference samples) is absent")


def _rotation(d: int, seed: int) -> torch.Tensor:
    q, _ = torch.linalg.qr(torch.randn(d, d, generator=torch.Generator().manual_seed(seed)))
    return q


def test_dw4_hand_value():
    # square of side 4: four sides d = 4 (r = 0), two diagonals d = 4 sqrt 2.
    x = torch.tensor([[0.0, 0, 4, 0, 4, 4, 0, 4]])
    r = 4 * math.sqrt(2) - 4
    expected = 2 * (0.9 * r**4 - 4 * r**2)
    assert DW4()(x).item() == pytest.approx(expected, rel=1e-5)


def test_lj_hand_value_two_particles():
    # two particles at distance 1 (= r_m): ordered pairs (1,2) and (2,1) each give 1 - 2 = -1.
    lj = LJ13(n_particles=2)
    x = torch.tensor([[0.0, 0, 0, 1, 0, 0]])
    d = math.sqrt(1 + 1e-6)
    pair = d**-12 - 2 * d**-6
    harmonic = 0.5 * (0.25 + 0.25)  # each particle 0.5 from the centre
    assert lj(x).item() == pytest.approx(2 * pair + harmonic, rel=1e-5)


@pytest.mark.parametrize("target", [DW4(), LJ13()], ids=["dw4", "lj13"])
def test_particle_symmetries(target):
    n, d = target.particles
    g = torch.Generator().manual_seed(0)
    x = remove_com(torch.randn(16, n * d, generator=g) * 1.5, (n, d))
    e = target(x)
    xs = x.reshape(16, n, d)
    perm = torch.randperm(n, generator=g)
    e_perm = target(xs[:, perm].reshape(16, -1))
    e_rot = target((xs @ _rotation(d, 1).T).reshape(16, -1))
    e_shift = target((xs + torch.randn(16, 1, d, generator=g)).reshape(16, -1))
    for other in (e_perm, e_rot):
        torch.testing.assert_close(other, e, rtol=1e-4, atol=1e-3)
    torch.testing.assert_close(e_shift, e, rtol=1e-4, atol=1e-3)


@needs_particles
def test_reference_energies_match_the_spec():
    for target, mean, std in ((DW4(), -22.5, 1.9), (LJ13(), -43.1, 7.0)):
        e = target(target.reference_samples("test"))
        assert e.mean().item() == pytest.approx(mean, abs=0.2)
        assert e.std().item() == pytest.approx(std, abs=0.2)
