"""What makes a detector a PyOD and scikit-learn citizen, independent of how it scores.

:class:`DetectorMixin` holds PyOD's fitted-detector interface (``predict``, ``predict_proba``,
``predict_confidence``, ``fit_predict``, the attributes ``decision_scores_``, ``threshold_``,
``labels_``) and scikit-learn's estimator contract (``get_params`` / ``set_params`` over the
constructor's keyword arguments, ``clone``, tags). A detector class adds ``fit``,
``decision_function`` and the list of its options (:meth:`DetectorMixin._get_param_names`).

``DetectorBase`` is the class detectors inherit besides the mixin: PyOD's
``pyod.models.base.BaseDetector`` (itself a scikit-learn ``BaseEstimator``) when PyOD is installed,
so that ``isinstance(det, BaseDetector)`` holds and PyOD's own extras are inherited; plain
``object`` otherwise. Every method above is the mixin's own, so the API is the same with or without
PyOD, and neither PyOD nor scikit-learn is imported when PyOD is absent.
"""

from __future__ import annotations

import importlib.util
import math
from typing import TYPE_CHECKING, Any

import numpy as np


def _pyod_base() -> type:
    """``pyod.models.base.BaseDetector`` when PyOD imports, else ``object``."""
    try:
        if importlib.util.find_spec("pyod") is None:
            return object
        from pyod.models.base import BaseDetector
    except (ImportError, ValueError):  # ValueError: a module blocked by sys.modules[name] = None
        return object
    return BaseDetector  # type: ignore[no-any-return]


if TYPE_CHECKING:
    DetectorBase = object
else:
    DetectorBase = _pyod_base()

#: Whether the detectors are ``pyod.models.base.BaseDetector`` subclasses (PyOD is installed).
PYOD_BASE = DetectorBase is not object


class _FallbackNotFittedError(ValueError, AttributeError):
    """Raised by an unfitted detector when scikit-learn is not installed (its own class otherwise)."""


def not_fitted(message: str) -> Exception:
    """scikit-learn's ``NotFittedError`` (a ValueError and an AttributeError) with ``message``; the
    same two bases without scikit-learn. Imported only when raised, so that scoring imports nothing."""
    try:
        from sklearn.exceptions import NotFittedError
    except ImportError:
        return _FallbackNotFittedError(message)
    return NotFittedError(message)  # type: ignore[no-any-return]


class DetectorMixin:
    """PyOD's and scikit-learn's detector interface over ``fit`` and ``decision_function``.

    A subclass stores its constructor's keyword arguments unchanged as attributes of the same names
    (and nothing else), lists them in :meth:`_get_param_names`, and in ``fit`` sets
    ``decision_scores_`` (the training scores) and calls :meth:`_process_decision_scores`.
    Scores: higher = more anomalous; labels: 1 = anomaly, 0 = normal (PyOD's convention).
    """

    contamination: float
    decision_scores_: np.ndarray
    threshold_: float
    labels_: np.ndarray

    # -- subclass API -----------------------------------------------------------------------------
    def fit(self, X: Any, y: Any = None) -> Any:  # pragma: no cover - every detector defines it
        raise NotImplementedError

    def decision_function(self, X: Any) -> np.ndarray:  # pragma: no cover
        raise NotImplementedError

    @classmethod
    def _get_param_names(cls) -> list[str]:  # pragma: no cover
        raise NotImplementedError

    @classmethod
    def _param_defaults(cls) -> dict[str, Any]:  # pragma: no cover
        raise NotImplementedError

    # -- scikit-learn's estimator contract -------------------------------------------------------
    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """The constructor's keyword arguments as set (scikit-learn's contract; no nested estimators,
        so ``deep`` changes nothing)."""
        return {name: getattr(self, name) for name in self._get_param_names()}

    def set_params(self, **params: Any) -> Any:
        """Set options by name (unchecked until ``fit``, as in scikit-learn); returns self."""
        valid = self._get_param_names()
        for name, value in params.items():
            if name not in valid:
                raise ValueError(f"invalid parameter {name!r} for {type(self).__name__}; "
                                 f"valid parameters: {sorted(valid)}")
            setattr(self, name, value)
        return self

    def __repr__(self) -> str:
        defaults = self._param_defaults()
        changed = {k: v for k, v in self.get_params(deep=False).items()
                   if k not in defaults or not _same(v, defaults[k])}
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in changed.items())})"

    def __sklearn_is_fitted__(self) -> bool:
        return hasattr(self, "decision_scores_") or hasattr(self, "threshold_")

    def __sklearn_tags__(self) -> Any:
        parent = getattr(super(), "__sklearn_tags__", None)
        if parent is not None:  # scikit-learn's BaseEstimator through PyOD's BaseDetector
            tags = parent()
        else:
            from sklearn.utils import Tags, TargetTags

            tags = Tags(estimator_type=None, target_tags=TargetTags(required=False), transformer_tags=None,
                        classifier_tags=None, regressor_tags=None)
        tags.estimator_type = "outlier_detector"  # as PyOD declares its detectors
        tags.target_tags.required = False
        tags.input_tags.allow_nan = False
        tags.input_tags.sparse = False
        return tags

    # -- PyOD's interface ------------------------------------------------------------------------
    def _process_decision_scores(self) -> None:
        """``threshold_`` (the training-score quantile 1 - contamination), ``labels_`` and the
        moments used by ``predict_proba(method="unify")``, from ``decision_scores_``."""
        scores = np.asarray(self.decision_scores_, dtype=np.float64)
        self.threshold_ = float(np.quantile(scores, 1 - float(self.contamination)))
        self.labels_ = (scores > self.threshold_).astype(np.int64)
        self._mu = float(scores.mean())
        self._sigma = float(scores.std())
        self._classes = 2

    def _check_threshold(self) -> float:
        threshold = getattr(self, "threshold_", None)
        if threshold is None:
            raise not_fitted(f"This {type(self).__name__} instance is not fitted yet: call fit(X) first")
        return float(threshold)

    def _training_scores(self) -> np.ndarray:
        scores = getattr(self, "decision_scores_", None)
        if scores is None:
            self._check_threshold()
            raise not_fitted(f"this {type(self).__name__} has no training scores (decision_scores_; a detector "
                             "saved before they were stored): fit it again for predict_proba / predict_confidence")
        return np.asarray(scores, dtype=np.float64)

    def predict(self, X: Any, return_confidence: bool = False) -> Any:
        """1 = anomaly (score above ``threshold_``, the training-score quantile 1 - contamination),
        else 0; with ``return_confidence`` also :meth:`predict_confidence`."""
        threshold = self._check_threshold()
        labels = (self.decision_function(X) > threshold).astype(np.int64)
        return (labels, self.predict_confidence(X)) if return_confidence else labels

    def predict_proba(self, X: Any, method: str = "linear", return_confidence: bool = False) -> Any:
        """(n, 2): [P(normal), P(anomaly)]. ``linear``: the score min-max scaled by the training
        scores' range, clipped to [0, 1]; ``unify``: erf((score - mean) / (std sqrt 2)) over the
        training scores, clipped to [0, 1] (Kriegel et al., "Interpreting and unifying outlier
        scores", 2011). With ``return_confidence`` also :meth:`predict_confidence`."""
        if method not in ("linear", "unify"):
            raise ValueError(f"predict_proba: method must be 'linear' or 'unify', got {method!r}")
        self._check_threshold()
        train = self._training_scores()
        scores = self.decision_function(X)
        if method == "linear":
            lo, span = float(train.min()), float(train.max() - train.min())
            p = (scores - lo) / (span if span > 0 else 1.0)
        else:
            mu, sigma = float(train.mean()), float(train.std())
            z = (scores - mu) / ((sigma if sigma > 0 else 1.0) * math.sqrt(2.0))
            p = np.fromiter((math.erf(v) for v in z), dtype=np.float64, count=len(z))
        p = np.clip(p, 0.0, 1.0)
        probs = np.stack([1.0 - p, p], axis=1)
        return (probs, self.predict_confidence(X)) if return_confidence else probs

    def predict_confidence(self, X: Any) -> np.ndarray:
        """Confidence in [0, 1] that each prediction would stay the same under a resampled
        training set (Perini et al., "Quantifying the confidence of anomaly detectors in their
        example-wise predictions", 2020): the posterior P(anomaly) of a point is
        (1 + #training scores <= its score) / (2 + n), and the confidence is the binomial
        probability that more than n (1 - contamination) training points fall below it (its
        complement for a point predicted normal). Needs SciPy."""
        from scipy.stats import binom

        threshold = self._check_threshold()
        train = np.sort(self._training_scores())
        n = len(train)
        scores = self.decision_function(X)
        posterior = (1.0 + np.searchsorted(train, scores, side="right")) / (2.0 + n)
        confidence = 1.0 - binom.cdf(n - int(n * float(self.contamination)), n, posterior)
        normal = scores <= threshold
        confidence[normal] = 1.0 - confidence[normal]
        return np.asarray(confidence, dtype=np.float64)

    def fit_predict(self, X: Any, y: Any = None) -> np.ndarray:
        """``fit(X)`` then the training labels ``labels_`` (1 = anomaly)."""
        self.fit(X, y)
        return np.asarray(self.labels_)


#: The scikit-learn estimator checks a detector fails by design, with the reason: pass it as
#: ``check_estimator(det, expected_failed_checks=SKLEARN_EXPECTED_FAILED_CHECKS)``. Both check
#: scikit-learn's own outlier-detector convention, which PyOD's (and these detectors') differs from.
SKLEARN_EXPECTED_FAILED_CHECKS = {
    "check_outliers_train": "PyOD's convention: predict returns 0 (normal) / 1 (anomaly) and decision_function "
                            "is higher for more anomalous points; scikit-learn's outlier detectors return -1 "
                            "(outlier) / +1 (inlier), decision_function < 0 for outliers, and score_samples "
                            "with offset_",
    "check_outliers_fit_predict": "PyOD's convention: fit_predict returns the training labels 0 (normal) / "
                                  "1 (anomaly), not scikit-learn's -1 (outlier) / +1 (inlier)",
}


def _same(a: Any, b: Any) -> bool:
    try:
        return bool(a == b) and type(a) is type(b)
    except (TypeError, ValueError):
        return a is b


__all__ = ["DetectorBase", "DetectorMixin", "PYOD_BASE", "SKLEARN_EXPECTED_FAILED_CHECKS", "not_fitted"]
