"""Detection metrics: AUROC (Mann-Whitney, ties counted half) and AUPRC (average precision).

Both take scores where higher means more anomalous and labels with 1 = anomaly.
"""

from __future__ import annotations

import numpy as np


def _check(scores: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    s = np.asarray(scores, dtype=np.float64).reshape(-1)
    y = np.asarray(labels).reshape(-1)
    if s.shape != y.shape:
        raise ValueError(f"scores {s.shape} and labels {y.shape} must have the same length")
    if not np.isin(y, (0, 1)).all():
        raise ValueError("labels must be 0 (normal) or 1 (anomaly)")
    y = y.astype(bool)
    if y.all() or not y.any():
        raise ValueError("labels must contain both normal (0) and anomalous (1) points")
    if not np.isfinite(s).all():
        raise ValueError(f"{int((~np.isfinite(s)).sum())} scores are not finite")
    return s, y


def _average_ranks(s: np.ndarray) -> np.ndarray:
    order = np.argsort(s, kind="mergesort")
    sorted_s = s[order]
    ranks = np.empty(len(s), dtype=np.float64)
    # tie groups get the mean of their 1-based ranks
    boundaries = np.flatnonzero(np.diff(sorted_s)) + 1
    starts = np.concatenate([[0], boundaries])
    ends = np.concatenate([boundaries, [len(s)]])
    for a, b in zip(starts, ends):
        ranks[order[a:b]] = (a + 1 + b) / 2.0
    return ranks


def auroc(scores: np.ndarray, labels: np.ndarray) -> float:
    """P(score of a random anomaly > score of a random normal point), ties counted 1/2."""
    s, y = _check(scores, labels)
    r = _average_ranks(s)
    n1, n0 = int(y.sum()), int((~y).sum())
    return float((r[y].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))


def auprc(scores: np.ndarray, labels: np.ndarray) -> float:
    """Average precision: sum_k (R_k - R_{k-1}) P_k over decreasing score thresholds (tied scores
    form one threshold)."""
    s, y = _check(scores, labels)
    order = np.argsort(-s, kind="mergesort")
    s_sorted, y_sorted = s[order], y[order]
    tp = np.cumsum(y_sorted)
    last = np.r_[np.flatnonzero(np.diff(s_sorted)), len(s) - 1]  # last index of each threshold
    tp_at = tp[last]
    precision = tp_at / (last + 1)
    recall = tp_at / y.sum()
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))
