"""The detectors as scikit-learn estimators and PyOD detectors: clone, pipelines, grid search, PyOD's
attributes and methods, scikit-learn's estimator checks, and saving through the checkpoint module."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from dxmi.anomaly import DETECTORS, DxMIDetector, LangevinEBMDetector, VGSEBMDetector, load_detector, make_detector
from dxmi.anomaly.estimator import PYOD_BASE, SKLEARN_EXPECTED_FAILED_CHECKS
from dxmi.anomaly.inputs import as_matrix

sklearn = pytest.importorskip("sklearn")

TINY = {
    "dxmi": dict(iterations=2, hidden=8, depth=1, sampler_hidden=8, batch_size=16),
    "langevin_ebm": dict(iterations=2, hidden=8, depth=1, batch_size=16, langevin_steps=2),
    "vgs_ebm": dict(iterations=2, hidden=8, depth=1, batch_size=16, value_hidden=8, num_steps=2),
}
ROOT = Path(__file__).resolve().parents[2]


def labelled(n_normal: int = 270, n_out: int = 30, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A correlated Gaussian in 4-D (normal) and uniform points in a wide box around it (anomalies),
    shuffled; y = 1 for an anomaly."""
    g = np.random.default_rng(seed)
    normal = g.normal(size=(n_normal, 4)) @ np.array([[1, 0.8, 0, 0], [0, 0.5, 0, 0], [0, 0, 2, 0], [0, 0, 0, 1.0]])
    out = g.uniform(-8, 8, size=(n_out, 4))
    x, y = np.r_[normal, out] * 10 + 5, np.r_[np.zeros(n_normal), np.ones(n_out)].astype(int)
    order = g.permutation(len(x))
    return x[order], y[order]


# -- the estimator contract ------------------------------------------------------------------------
def test_clone_params_and_checks_at_fit():
    from sklearn.base import clone

    det = make_detector("dxmi")
    twin = clone(det)
    assert type(twin) is DxMIDetector and twin is not det and twin.get_params() == det.get_params()
    assert set(det.get_params()) == {f for f in DxMIDetector._param_defaults()} and "sampler_lr" in det.get_params()
    assert repr(make_detector("langevin_ebm", iterations=7)) == "LangevinEBMDetector(iterations=7)"
    # make_detector's API is unchanged: options typed and checked there, the config object as before
    assert make_detector("dxmi", energy_lr="3e-4").config.energy_lr == 3e-4
    with pytest.raises(ValueError, match="unknown dxmi option"):
        make_detector("dxmi", nope=1)
    # the constructor stores options as given; they are checked (with their name) at fit
    bad = DxMIDetector(gamma=-1.0)
    assert bad.gamma == -1.0 and clone(bad).gamma == -1.0
    with pytest.raises(ValueError, match="gamma"):
        bad.fit(np.zeros((5, 2)))
    with pytest.raises(TypeError, match="unknown option"):
        DxMIDetector(not_an_option=1)
    det.set_params(iterations=np.int64(3), gamma=np.float64(0.5))  # numpy scalars from a parameter grid
    assert det.config.iterations == 3 and isinstance(det.config.iterations, int)
    with pytest.raises(ValueError, match="invalid parameter"):
        det.set_params(nope=1)
    # the config object and keyword options are two spellings of the same detector
    assert DxMIDetector.from_config(det.config).get_params() == det.get_params()


def test_cli_method_names_are_the_detectors():
    from dxmi.anomaly.cli import METHODS

    assert sorted(METHODS) == sorted(DETECTORS)


def test_pipeline_and_grid_search_over_one_option():
    from sklearn.metrics import make_scorer, roc_auc_score
    from sklearn.model_selection import GridSearchCV, StratifiedKFold
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    x, y = labelled()
    det = LangevinEBMDetector(iterations=20, hidden=16, depth=1, batch_size=32, langevin_steps=3)
    pipe = Pipeline([("scale", StandardScaler()), ("det", det)]).fit(x)
    scores = pipe.decision_function(x)
    assert scores.shape == (300,) and roc_auc_score(y, scores) > 0.9
    assert set(np.unique(pipe.predict(x))) == {0, 1} and pipe.predict_proba(x).shape == (300, 2)

    auroc = make_scorer(roc_auc_score, response_method="decision_function")
    search = GridSearchCV(pipe, {"det__quadratic": [0.01, 1.0]}, scoring=auroc,
                          cv=StratifiedKFold(3, shuffle=True, random_state=0)).fit(x, y)
    assert len(search.cv_results_["mean_test_score"]) == 2 and search.best_score_ > 0.9
    assert search.best_params_["det__quadratic"] in (0.01, 1.0)
    assert search.best_estimator_.named_steps["det"] is not det  # the search fits clones


@pytest.mark.slow
def test_docs_example_runs(capsys):
    """The example of docs/anomaly.md, "With scikit-learn and PyOD" (7 fits, about 25 s)."""
    torch.set_num_threads(1)
    section = (ROOT / "docs" / "anomaly.md").read_text().split("## With scikit-learn and PyOD", 1)[1]
    match = re.search(r"```python\n(.*?)```", section, flags=re.S)
    assert match is not None
    exec(compile(match.group(1), "docs/anomaly.md", "exec"), {})
    out = capsys.readouterr().out
    assert float(re.search(r"AUROC ([\d.]+)", out).group(1)) > 0.95, out


# -- PyOD --------------------------------------------------------------------------------------------
def test_pyod_detector_attributes_and_methods():
    pytest.importorskip("pyod")
    from pyod.models.base import BaseDetector

    x, _ = labelled()
    det = make_detector("langevin_ebm", contamination=0.1, **TINY["langevin_ebm"])
    assert PYOD_BASE and isinstance(det, BaseDetector)
    assert det.fit(x) is det
    assert det.contamination == 0.1 and det.decision_scores_.shape == (300,)
    assert det.threshold_ == pytest.approx(np.percentile(det.decision_scores_, 90))
    np.testing.assert_array_equal(det.labels_, (det.decision_scores_ > det.threshold_).astype(int))
    assert det.labels_.sum() == 30
    np.testing.assert_array_equal(det.predict(x), det.labels_)
    np.testing.assert_array_equal(det.fit_predict(x), det.labels_)
    # the methods agree with PyOD's own implementations called on the fitted detector
    x_new = labelled(seed=1)[0][:50]
    for method in ("linear", "unify"):
        proba = det.predict_proba(x_new, method=method)
        assert proba.shape == (50, 2) and np.allclose(proba.sum(1), 1) and ((proba >= 0) & (proba <= 1)).all()
        np.testing.assert_allclose(proba, BaseDetector.predict_proba(det, x_new, method=method), atol=1e-12)
    np.testing.assert_allclose(det.predict_confidence(x_new), BaseDetector.predict_confidence(det, x_new),
                               atol=1e-12)
    labels, confidence = det.predict(x_new, return_confidence=True)
    assert labels.shape == confidence.shape == (50,)
    with pytest.raises(ValueError, match="linear"):
        det.predict_proba(x_new, method="softmax")


def test_same_api_without_pyod_and_a_light_command_line():
    """With PyOD blocked: plain classes (not BaseDetectors) with the same methods; and building the
    ``dxmi`` parser imports no detector (so neither PyOD nor scikit-learn)."""
    script = """
import sys
sys.modules["pyod"] = None
from dxmi.cli.main import build_parser
build_parser()
assert "dxmi.anomaly.detector" not in sys.modules and "sklearn" not in sys.modules, sorted(sys.modules)
import numpy as np
from sklearn.base import clone
from dxmi.anomaly import make_detector
from dxmi.anomaly.estimator import PYOD_BASE
assert not PYOD_BASE
det = clone(make_detector("langevin_ebm", iterations=2, hidden=8, depth=1, langevin_steps=2))
try:
    det.predict(np.zeros((2, 2)))
except ValueError as e:
    assert "not fitted" in str(e) and isinstance(e, AttributeError)
else:
    raise AssertionError("an unfitted detector predicted")
x = np.random.default_rng(0).normal(size=(60, 3))
assert det.fit(x) is det
assert det.decision_scores_.shape == (60,) and det.labels_.sum() == 6 and det.threshold_ > 0
assert det.predict(x).tolist() == det.labels_.tolist() == det.fit_predict(x).tolist()
assert det.predict_proba(x, method="unify").shape == (60, 2) and det.predict_confidence(x).shape == (60,)
print("ok")
"""
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300,
                         env={**os.environ, "OMP_NUM_THREADS": "1"}, cwd=ROOT)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr[-2000:]


# -- scikit-learn's estimator checks -------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["dxmi", "langevin_ebm", "vgs_ebm"])
def test_sklearn_estimator_checks(kind):
    """Every check of ``check_estimator`` passes on a tiny detector, apart from the two named in
    ``SKLEARN_EXPECTED_FAILED_CHECKS`` (scikit-learn's -1 / +1 outlier convention against PyOD's
    0 / 1); checks skipped for a missing optional package (pandas, array API) are reported by name."""
    pytest.importorskip("sklearn", minversion="1.6")
    from sklearn.utils.estimator_checks import check_estimator

    det = make_detector(kind, **TINY[kind])
    results = check_estimator(det, expected_failed_checks=SKLEARN_EXPECTED_FAILED_CHECKS, on_skip=None,
                              on_fail=None)
    by_status: dict[str, set[str]] = {}
    for r in results:
        by_status.setdefault(r["status"], set()).add(r["check_name"])
    assert "failed" not in by_status, [(r["check_name"], r["exception"]) for r in results if r["status"] == "failed"]
    assert by_status["xfail"] == set(SKLEARN_EXPECTED_FAILED_CHECKS)  # no stale expectation
    assert by_status.get("skipped", set()) <= {"check_array_api_input", "check_classifier_data_not_an_array"}
    assert len(by_status["passed"]) >= 35


def test_input_errors_are_worded_for_sklearn():
    from scipy import sparse

    with pytest.raises(TypeError, match="sparse"):
        as_matrix(sparse.csr_matrix(np.eye(3)))
    with pytest.raises(ValueError, match="Complex data not supported"):
        as_matrix(np.ones((2, 2)) * 1j)
    with pytest.raises(ValueError, match="Reshape your data"):
        as_matrix(np.ones(3))
    with pytest.raises(ValueError, match=r"0 feature\(s\) \(shape=\(4, 0\)\)"):
        as_matrix(np.ones((4, 0)))
    with pytest.raises(ValueError, match="X has 2 features, but DxMIDetector is expecting 3 features"):
        as_matrix(np.ones((4, 2)), dim=3, owner="DxMIDetector")
    read_only = np.ones((4, 2), dtype=np.float32)
    read_only.flags.writeable = False
    assert as_matrix(read_only).shape == (4, 2)  # copied, no warning about a non-writable array


# -- saving through the checkpoint module ----------------------------------------------------------------
def test_saved_detector_is_one_checkpoint_and_restores_pyod_state(tmp_path):
    from dxmi.training.checkpoint import load_checkpoint

    x, _ = labelled()
    det = VGSEBMDetector(**TINY["vgs_ebm"]).fit(x)
    det.save(tmp_path / "d")
    assert sorted(p.name for p in (tmp_path / "d").iterdir()) == ["model.safetensors"]
    state = load_checkpoint(tmp_path / "d" / "model.safetensors")
    assert state["kind"] == "vgs_ebm" and state["dim"] == 4 and state["config"]["iterations"] == 2
    back = load_detector(tmp_path / "d")
    assert isinstance(back, VGSEBMDetector) and back.get_params() == det.get_params()
    np.testing.assert_array_equal(back.decision_function(x), det.decision_function(x))
    np.testing.assert_array_equal(back.decision_scores_, det.decision_scores_)
    assert back.threshold_ == det.threshold_ and back.n_features_in_ == 4
    np.testing.assert_array_equal(back.labels_, det.labels_)
    np.testing.assert_allclose(back.predict_proba(x, method="unify"), det.predict_proba(x, method="unify"))


def test_detector_saved_in_the_earlier_layout_still_loads(tmp_path):
    """Before detectors were one checkpoint: plain tensors in model.safetensors, settings in
    config.json (and feature_map.json for a feature-map detector); such folders load unchanged."""
    from safetensors.torch import save_file

    from dxmi.anomaly import FeatureMapDetector

    x, _ = labelled()
    det = DxMIDetector(**TINY["dxmi"]).fit(x)
    state = det.saved_state()
    tensors = {f"energy.{k}": v.contiguous() for k, v in state["energy"].items()}
    tensors.update({f"standardizer.{k}": v for k, v in state["standardizer"].items() if v is not None})
    old = tmp_path / "old"
    old.mkdir()
    save_file(tensors, str(old / "model.safetensors"))
    (old / "config.json").write_text(json.dumps({k: state[k] for k in ("kind", "dim", "config", "threshold")}))
    back = load_detector(old)
    np.testing.assert_array_equal(back.decision_function(x), det.decision_function(x))
    np.testing.assert_array_equal(back.predict(x), det.predict(x))
    with pytest.raises(ValueError, match="training scores"):
        back.predict_proba(x)  # not stored in that layout
    (old / "feature_map.json").write_text(json.dumps({"channels": 4, "top_k": 2}))
    fm = load_detector(old)
    assert isinstance(fm, FeatureMapDetector) and fm.channels == 4 and fm.top_k == 2
    maps = torch.as_tensor(x[:6], dtype=torch.float32).reshape(2, 3, 4).permute(0, 2, 1)[..., None].numpy()
    np.testing.assert_allclose(fm.score_map(maps).reshape(-1), det.decision_function(x[:6]), rtol=1e-6)
