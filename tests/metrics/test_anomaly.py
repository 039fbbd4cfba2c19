"""dxmi.metrics.anomaly: AUROC and AUPRC against scikit-learn (ties) and analytic cases."""

from __future__ import annotations

import numpy as np
import pytest

from dxmi.metrics.anomaly import auprc, auroc


# -- metrics -------------------------------------------------------------------------------------
def test_auroc_auprc_match_sklearn_with_ties():
    sk = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(0)
    for _ in range(5):
        y = rng.integers(0, 2, 200)
        s = np.round(rng.normal(size=200) + y, 1)  # rounding makes ties
        assert auroc(s, y) == pytest.approx(sk.roc_auc_score(y, s), abs=1e-12)
        assert auprc(s, y) == pytest.approx(sk.average_precision_score(y, s), abs=1e-12)


def test_auroc_analytic_cases():
    y = np.array([0, 0, 1, 1])
    assert auroc(np.array([0.0, 1.0, 2.0, 3.0]), y) == 1.0
    assert auroc(np.array([3.0, 2.0, 1.0, 0.0]), y) == 0.0
    assert auroc(np.zeros(4), y) == 0.5  # all tied
    assert auprc(np.array([0.0, 1.0, 2.0, 3.0]), y) == 1.0
    with pytest.raises(ValueError, match="both"):
        auroc(np.zeros(3), np.zeros(3))
