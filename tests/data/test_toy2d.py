from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from dxmi.data import TOY2D, EightGaussians, PointCloudDataset, load_point_cloud, make_toy2d

torch.set_num_threads(1)


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize("name", sorted(TOY2D))
def test_toy_shapes_determinism_range(name: str) -> None:
    ds = make_toy2d(name)
    assert ds.name == name and ds.dim == 2
    a = ds.sample(4000, _gen(1))
    b = ds.sample(4000, _gen(1))
    c = ds.sample(4000, _gen(2))
    assert a.shape == (4000, 2) and a.dtype == torch.float32
    assert torch.equal(a, b)
    assert not torch.equal(a, c)
    assert torch.isfinite(a).all()
    # roughly within [-4, 4]: the bulk of the mass, tails allowed slightly outside
    assert (a.abs() <= 4.0).float().mean() > 0.99
    assert a.abs().max() < 6.0
    assert ds.sample(0, _gen()).shape == (0, 2)


def test_unknown_name_lists_valid() -> None:
    with pytest.raises(ValueError, match="8gaussians"):
        make_toy2d("nope")


def test_8gaussians_moments() -> None:
    ds = EightGaussians()
    s = 1.414
    assert ds.std == pytest.approx(0.5 / s)
    assert ds.centers.shape == (8, 2)
    radius = ds.centers.norm(dim=1)
    assert torch.allclose(radius, torch.full((8,), 4.0 / s), atol=1e-5)
    ang = torch.atan2(ds.centers[:, 1], ds.centers[:, 0]) % (2 * math.pi)
    expected = torch.arange(8) * math.pi / 4
    assert torch.allclose(ang.double(), expected.double(), atol=1e-5)

    x = ds.sample(40000, _gen(3)).double()
    assert x.mean(0).abs().max() < 0.05
    nearest = torch.cdist(x, ds.centers.double()).argmin(1)
    counts = torch.bincount(nearest, minlength=8).double() / len(x)
    assert (counts - 1 / 8).abs().max() < 0.01
    for k in range(8):
        resid = x[nearest == k] - ds.centers[k].double()
        assert resid.std(0).sub(0.5 / s).abs().max() < 0.01


def test_8gaussians_log_prob_integrates_to_one() -> None:
    ds = EightGaussians()
    h = 0.02
    g = torch.arange(-5.0, 5.0 + h / 2, h, dtype=torch.float64)
    xx, yy = torch.meshgrid(g, g, indexing="xy")
    pts = torch.stack([xx.reshape(-1), yy.reshape(-1)], 1)
    lp = ds.log_prob(pts)
    assert lp.shape == (len(pts),) and lp.dtype == torch.float64
    assert float(lp.exp().sum() * h * h) == pytest.approx(1.0, abs=1e-3)
    # peak value: at a centre the other modes are negligible
    peak = ds.log_prob(ds.centers[:1].double())
    var = ds.std**2
    assert float(peak) == pytest.approx(-math.log(8) - math.log(2 * math.pi * var), abs=1e-6)


def test_point_cloud_dataset_any_dim() -> None:
    pts = np.arange(30, dtype=np.float64).reshape(10, 3)
    ds = PointCloudDataset(pts)
    assert ds.dim == 3 and len(ds) == 10
    a = ds.sample(500, _gen(0))
    assert a.shape == (500, 3) and a.dtype == torch.float32
    assert torch.equal(a, ds.sample(500, _gen(0)))
    # every draw is a row of the data, and all rows get drawn
    rows = {tuple(r) for r in a.tolist()}
    assert rows == {tuple(r) for r in pts.astype(np.float32).tolist()}


def test_load_point_cloud_formats(tmp_path) -> None:
    arr = np.random.default_rng(0).normal(size=(7, 2))
    np.save(tmp_path / "a.npy", arr)
    np.testing.assert_allclose(load_point_cloud(tmp_path / "a.npy").numpy(), arr, rtol=1e-6)

    (tmp_path / "b.csv").write_text("x,y\n" + "\n".join(f"{a},{b}" for a, b in arr) + "\n")
    np.testing.assert_allclose(load_point_cloud(tmp_path / "b.csv").numpy(), arr, rtol=1e-6)

    (tmp_path / "c.csv").write_text("\n".join(f"{a} {b}" for a, b in arr))
    out = load_point_cloud(str(tmp_path / "c.csv"))
    assert out.shape == (7, 2) and out.dtype == torch.float32
    ds = PointCloudDataset.from_file(tmp_path / "c.csv")
    assert ds.dim == 2


def test_load_point_cloud_errors(tmp_path) -> None:
    missing = tmp_path / "missing.npy"
    with pytest.raises(FileNotFoundError, match="missing.npy"):
        load_point_cloud(missing)

    np.save(tmp_path / "one_d.npy", np.zeros(5))
    with pytest.raises(ValueError, match=r"\(5,\)"):
        load_point_cloud(tmp_path / "one_d.npy")

    bad = np.zeros((6, 2))
    bad[1, 0] = np.nan
    bad[4, 1] = np.inf
    np.save(tmp_path / "nan.npy", bad)
    with pytest.raises(ValueError, match="2 of 6 rows"):
        load_point_cloud(tmp_path / "nan.npy")

    (tmp_path / "nan.csv").write_text("1,2\nnan,3\n4,5\n")
    with pytest.raises(ValueError, match="1 of 3 rows"):
        load_point_cloud(tmp_path / "nan.csv")

    np.save(tmp_path / "short.npy", np.zeros((1, 2)))
    with pytest.raises(ValueError, match="at least 2 rows"):
        load_point_cloud(tmp_path / "short.npy")
