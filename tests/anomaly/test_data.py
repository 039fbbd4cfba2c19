"""dxmi.anomaly.data: the semi-supervised split protocol and the shared ADBench loaders."""

from __future__ import annotations

import numpy as np
import pytest

from dxmi.anomaly.data import adbench_files, load_labelled, semi_supervised_split, shared_data_root


# -- the split protocol ---------------------------------------------------------------------------
def test_semi_supervised_split_protocol():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(100, 3)).astype(np.float32)
    x[:, 0] = np.arange(100)  # row id
    y = (np.arange(100) >= 80).astype(int)
    sp = semi_supervised_split(x, y, seed=3)
    assert len(sp.x_train) == 56 and len(sp.x_test) == 24 + 20  # 70 % of 80 normals
    train_ids, test_ids = set(sp.x_train[:, 0].astype(int)), set(sp.x_test[:, 0].astype(int))
    assert not train_ids & test_ids and max(train_ids) < 80  # disjoint, normals only
    assert set(range(80, 100)) <= test_ids and sp.y_test.sum() == 20
    again = semi_supervised_split(x, y, seed=3)
    np.testing.assert_array_equal(sp.x_train, again.x_train)
    assert not np.array_equal(sp.x_train, semi_supervised_split(x, y, seed=4).x_train)


# -- shared data (skips without ../shared/data) ------------------------------------------------------
@pytest.mark.skipif(not (shared_data_root() / "adbench").is_dir(),
                    reason="../shared/data/adbench is absent (a user's clone has no ../shared)")
def test_shared_adbench_loaders():
    classical, mvtec = adbench_files("classical"), adbench_files("mvtec")
    assert len(classical) == 18 and len(mvtec) == 15
    assert "thyroid" in classical and "mvtec_bottle" in mvtec
    x, y = load_labelled(classical["thyroid"])
    assert y is not None and x.shape == (3772, 6) and set(np.unique(y)) == {0, 1}
    xm, ym = load_labelled(mvtec["mvtec_bottle"])
    assert ym is not None and xm.shape[1] == 512
