"""The E(n)-equivariant value of VGS on particle targets: invariance of V, equivariance of grad V and
of the drift, and a short training run that improves the sampler."""

from pathlib import Path

import pytest
import torch

from dxmi.algorithms.vgs import VGS, make_config
from dxmi.nets.egnn import EGNN
from dxmi.samplers.vgs import VGSValue
from dxmi.targets import make_target

DATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "data"
needs_particles = pytest.mark.skipif(not (DATA / "particles").is_dir(),
                                     reason="../shared/data/particles (reference samples) is absent")


def _orthogonal(d, g, reflect):
    """A random orthogonal d x d matrix (float64); with ``reflect`` its determinant is -1."""
    q, r = torch.linalg.qr(torch.randn(d, d, generator=g, dtype=torch.float64))
    q = q * torch.sign(torch.diagonal(r))
    if (torch.det(q) > 0) == reflect:
        q[:, 0] = -q[:, 0]
    return q


def _transform(x, n, d, q, perm, shift):
    """Rotate (``q``), permute the particles (``perm``) and translate (``shift``) flat states ``(B, n d)``."""
    xs = x.reshape(x.shape[0], n, d)
    return ((xs @ q.T)[:, perm] + shift).reshape(x.shape)


def _rotate_grad(g, n, d, q, perm):
    """How a gradient transforms: rotated and permuted, not translated."""
    return _transform(g, n, d, q, perm, torch.zeros(d, dtype=g.dtype))


def _grad(f, x, t):
    x = x.detach().clone().requires_grad_(True)
    v = f(x, t)
    (g,) = torch.autograd.grad(v.sum(), x)
    return v.detach(), g


@pytest.mark.parametrize("n,d", [(4, 2), (13, 3), (5, 3)])
@pytest.mark.parametrize("reflect", [False, True])
def test_egnn_value_is_invariant_and_its_gradient_equivariant(n, d, reflect):
    g = torch.Generator().manual_seed(n * 10 + d + int(reflect))
    torch.manual_seed(0)
    value = VGSValue(n * d, 10, hidden=16, depth=3, time_dim=8, features="egnn", particles=(n, d),
                     scale_with_d=True, d_scale=(n - 1) * d).double()
    x = 1.5 * torch.randn(6, n * d, generator=g, dtype=torch.float64)
    t = torch.randint(0, 10, (6,), generator=g)
    q = _orthogonal(d, g, reflect)
    perm = torch.randperm(n, generator=g)
    shift = 3.0 * torch.randn(d, generator=g, dtype=torch.float64)
    v, grad = _grad(value, x, t)
    v2, grad2 = _grad(value, _transform(x, n, d, q, perm, shift), t)
    assert v.abs().min() > 1e-6  # not trivially zero
    torch.testing.assert_close(v2, v, rtol=0, atol=1e-6)
    torch.testing.assert_close(grad2, _rotate_grad(grad, n, d, q, perm), rtol=0, atol=1e-6)
    # translation invariance: the gradient sums to zero over the particles
    torch.testing.assert_close(grad.reshape(6, n, d).sum(1), torch.zeros(6, d, dtype=torch.float64), rtol=0,
                               atol=1e-9)
    # ... and it depends on the state and on the time
    assert not torch.allclose(value(x, torch.zeros_like(t)), value(x, torch.full_like(t, 9)))


def test_egnn_one_time_batches_and_mixed_times_agree():
    torch.manual_seed(0)
    net = EGNN(4, 2, hidden=16, layers=2, time_dim=8).double()
    x = torch.randn(5, 8, dtype=torch.float64)
    t = torch.full((5,), 3)
    rows = torch.cat([net(x[i:i + 1], t[i:i + 1]) for i in range(5)])
    torch.testing.assert_close(net(x, t), rows)
    net.dedup_times = True
    t2 = torch.tensor([0, 3, 0, 7, 3])
    torch.testing.assert_close(net(x, t2), torch.cat([net(x[i:i + 1], t2[i:i + 1]) for i in range(5)]))
    with pytest.raises(ValueError, match="expected shape"):
        net(torch.zeros(2, 9, dtype=torch.float64), torch.zeros(2))


def test_egnn_without_coordinate_updates_is_invariant_too():
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(3)
    net = EGNN(5, 3, hidden=16, layers=3, time_dim=8, coord_updates=False).double()
    x = torch.randn(4, 15, generator=g, dtype=torch.float64)
    t = torch.randint(0, 10, (4,), generator=g)
    q = _orthogonal(3, g, reflect=True)
    y = _transform(x, 5, 3, q, torch.randperm(5, generator=g), torch.randn(3, generator=g, dtype=torch.float64))
    torch.testing.assert_close(net(y, t), net(x, t), rtol=0, atol=1e-6)


def test_egnn_features_need_a_particle_target():
    with pytest.raises(ValueError, match="particle target"):
        VGSValue(8, 10, features="egnn")
    with pytest.raises(ValueError, match="unknown value features"):
        VGSValue(8, 10, features="graph", particles=(4, 2))


@pytest.mark.parametrize("name", ["dw4", "lj13"])
def test_vgs_drift_with_the_egnn_value_is_com_free_and_equivariant(name):
    target = make_target(name)
    n, d = target.particles
    cfg = make_config(name, ["num_steps=6", "net.features=egnn", "net.hidden=16", "net.depth=2", "net.time_dim=8"])
    sampler = VGS(target, cfg).sampler.double()
    assert isinstance(sampler.value.net, EGNN)
    g = torch.Generator().manual_seed(1)
    x = target.project(torch.randn(4, n * d, generator=g, dtype=torch.float64) * (1.5 if name == "dw4" else 0.8))
    q = _orthogonal(d, g, reflect=True)
    perm = torch.randperm(n, generator=g)
    y = _transform(x, n, d, q, perm, torch.zeros(d, dtype=torch.float64))
    for t in (0, 3):  # drifts of the value (t + 1 < T)
        mu = sampler.drift(x, t)
        assert mu.abs().max() > 0
        torch.testing.assert_close(mu.reshape(4, n, d).sum(1), torch.zeros(4, d, dtype=torch.float64), rtol=0,
                                   atol=1e-9)
        torch.testing.assert_close(sampler.drift(y, t), _rotate_grad(mu, n, d, q, perm), rtol=0, atol=1e-6)
    # the step keeps states centre-of-mass free, whatever the noise
    noise = torch.randn(4, n * d, generator=g, dtype=torch.float64)
    nxt = sampler.step(x, 2, noise=noise).next_x
    torch.testing.assert_close(nxt.reshape(4, n, d).sum(1), torch.zeros(4, d, dtype=torch.float64), rtol=0,
                               atol=1e-9)
    roll = sampler.float().rollout(8, torch.Generator().manual_seed(2), weights=False)
    assert roll.states.reshape(-1, n, d).sum(1).abs().max() < 1e-4


@needs_particles
def test_egnn_value_learns_dw4():
    """A short VGS run with a small graph value lowers the energy of the samples (and their TVD-E)."""
    from dxmi.metrics import particle_metrics

    torch.manual_seed(0)
    target = make_target("dw4")
    cfg = make_config("dw4", ["iterations=250", "batch_size=32", "num_steps=10", "s2_start=0.3", "s2_end=0.01",
                              "ema=0.9", "s_init=2.0", "s_init_lr=3e-3", "value_lr=1e-3", "td_lambda=0.3",
                              "explore_noise=1.0", "net.features=egnn", "net.hidden=16", "net.depth=2",
                              "net.time_dim=8", "seed=0"])
    algo = VGS(target, cfg)
    ref = target.reference_samples("val")[:500]

    def score():
        x = algo.sampler.sample(500, torch.Generator().manual_seed(5))
        return float(target(x).mean()), particle_metrics(x, ref, target, target.particles).tvd_e

    e0, tvd0 = score()
    for _ in range(cfg.iterations):
        algo.update()
    e1, tvd1 = score()
    assert e1 < e0 - 3.0, (e0, e1)
    assert tvd1 < tvd0 - 0.1, (tvd0, tvd1)
