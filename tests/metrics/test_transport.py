"""dxmi.metrics.transport: exact and entropic optimal transport."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

from dxmi.metrics import emd, sinkhorn, wasserstein2

torch.set_num_threads(1)


def _rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def test_emd_translation_exact() -> None:
    x = _rng(8).normal(size=(100, 2))
    v = np.array([0.7, -1.2])
    assert emd(x, x + v) == pytest.approx(float(v @ v), rel=1e-9)
    assert emd(x, x + v, metric="euclidean") == pytest.approx(float(np.linalg.norm(v)), rel=1e-9)
    assert wasserstein2(torch.as_tensor(x), torch.as_tensor(x + v)) == pytest.approx(
        float(np.linalg.norm(v)), rel=1e-9
    )
    assert emd(x, x) == pytest.approx(0.0, abs=1e-12)


def test_sinkhorn_small_reg_close_to_emd() -> None:
    x = _rng(9).normal(size=(60, 2))
    y = _rng(10).normal(0.5, 1.0, size=(50, 2))
    for metric in ("sqeuclidean", "euclidean"):
        exact = emd(x, y, metric=metric)
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # converges without complaint at reg=1e-3
            approx = sinkhorn(x, y, reg=1e-3, metric=metric)
        assert np.isfinite(approx)
        assert approx == pytest.approx(exact, rel=0.02)
        # entropic plans are never cheaper than the optimum, and larger reg blurs more
        loose = sinkhorn(x, y, reg=0.5, metric=metric)
        assert exact - 1e-9 <= approx <= loose
    plain = sinkhorn(x, y, reg=0.5, log_domain=False)
    assert plain == pytest.approx(sinkhorn(x, y, reg=0.5), rel=1e-5)
