"""dxmi.anomaly.inputs: standardisation, Ledoit-Wolf shrinkage and whitening."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dxmi.anomaly import Standardizer
from dxmi.energies import MLPEnergy


def test_standardizer_moments_and_constant_feature():
    x = torch.randn(500, 3) * torch.tensor([2.0, 0.5, 0.0]) + torch.tensor([1.0, -3.0, 7.0])
    st = Standardizer.fit(x)
    z = st(x)
    assert torch.allclose(z.mean(0), torch.zeros(3), atol=1e-5)
    assert torch.allclose(z[:, :2].std(0), torch.ones(2), atol=1e-5)
    assert st.std[2] == 1.0 and torch.all(z[:, 2] == 0)


def test_ledoit_wolf_matches_sklearn_and_whitening_decorrelates():
    from dxmi.anomaly.inputs import ledoit_wolf

    g = torch.Generator().manual_seed(0)
    mix = torch.tensor([[2.0, 0.0, 0.0], [1.5, 0.5, 0.0], [0.0, 0.3, 0.1]])
    x = torch.randn(40, 3, generator=g, dtype=torch.float64) @ mix.double()
    cov, a = ledoit_wolf(x)
    assert 0.0 < a < 1.0
    sk = pytest.importorskip("sklearn.covariance")
    lw = sk.LedoitWolf().fit(x.numpy())
    np.testing.assert_allclose(cov.numpy(), lw.covariance_, rtol=1e-10, atol=1e-10)
    assert a == pytest.approx(lw.shrinkage_, rel=1e-10)
    # identical coordinates (zero spread of the eigenvalues around their mean): full shrinkage
    flat = torch.randn(50, 4, generator=g, dtype=torch.float64)
    flat = (flat - flat.mean(0)) / flat.std(0)
    assert 0.0 <= ledoit_wolf(flat)[1] <= 1.0
    # many samples: almost no shrinkage, and the whitened training data has identity covariance
    big = (torch.randn(20000, 3, generator=g) @ mix).float()
    st = Standardizer.fit(big, whiten=True)
    z = st(big)
    torch.testing.assert_close(torch.cov(z.T), torch.eye(3), atol=0.02, rtol=0)
    # the quadratic base energy on whitened inputs is the Mahalanobis distance / (2 D)
    e = MLPEnergy(3, hidden=4, depth=1, quadratic=1.0)
    with torch.no_grad():
        for p in e.net.parameters():
            p.zero_()
    prec = torch.linalg.inv(torch.cov(((big - st.mean) / st.std).T))
    d = (big[:5] - st.mean) / st.std
    maha = torch.einsum("nd,de,ne->n", d, prec, d)
    torch.testing.assert_close(e(z[:5]), maha / 6, rtol=0.03, atol=1e-3)
    with pytest.raises(ValueError, match="whitening matrix"):
        Standardizer(st.mean, st.std, torch.eye(2))
