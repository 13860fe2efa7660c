"""Detection metrics: ranking quality and what an analyst team can act on.

All functions take plain numpy arrays, so they are testable on hand-computed cases.
"""

from __future__ import annotations

import numpy as np
from sklearn.metrics import average_precision_score, roc_auc_score

from fraudstream.errors import ValidationError


def _check(y: np.ndarray, s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(y).astype(np.int8).ravel()
    s = np.asarray(s, dtype=np.float64).ravel()
    if y.shape != s.shape:
        raise ValidationError(f"{y.shape[0]} labels but {s.shape[0]} scores", field="scores")
    if not np.all(np.isfinite(s)):
        raise ValidationError("scores contain NaN or inf", field="scores")
    return y, s


def roc_auc(y: np.ndarray, s: np.ndarray) -> float:
    """ROC AUC; NaN when only one class is present."""
    y, s = _check(y, s)
    if y.min(initial=0) == y.max(initial=0):
        return float("nan")
    return float(roc_auc_score(y, s))


def average_precision(y: np.ndarray, s: np.ndarray) -> float:
    """Average precision (AUPRC, step-wise); NaN without positives."""
    y, s = _check(y, s)
    if not y.any():
        return float("nan")
    return float(average_precision_score(y, s))


def _top(s: np.ndarray, k: int) -> np.ndarray:
    # Stable order on (-score, position): ties resolve to the earlier row, deterministic.
    return np.lexsort((np.arange(s.shape[0]), -s))[:k]


def precision_at_k(y: np.ndarray, s: np.ndarray, k: int) -> float:
    """Fraction of frauds among the ``k`` highest scores (``k`` capped at n).

    Example:
        >>> precision_at_k(np.array([1, 0, 1, 0]), np.array([0.9, 0.8, 0.7, 0.1]), 2)
        0.5
    """
    y, s = _check(y, s)
    k = min(k, y.shape[0])
    return float(y[_top(s, k)].mean()) if k > 0 else float("nan")


def recall_at_budget(y: np.ndarray, s: np.ndarray, budget: float) -> float:
    """Recall when alerting on the top ``budget`` fraction of traffic (e.g. 0.005).

    Example:
        >>> recall_at_budget(np.array([1, 0, 1, 0]), np.array([0.9, 0.8, 0.7, 0.1]), 0.25)
        0.5
    """
    y, s = _check(y, s)
    if not 0.0 < budget <= 1.0:
        raise ValidationError("budget must be in (0, 1]", field="budget")
    if not y.any():
        return float("nan")
    k = max(1, int(np.floor(budget * y.shape[0])))
    return float(y[_top(s, k)].sum() / y.sum())


def alert_mask_at_budget(s: np.ndarray, budget: float) -> np.ndarray:
    """Boolean mask of the top ``budget`` fraction of scores."""
    s = np.asarray(s, dtype=np.float64)
    mask = np.zeros(s.shape[0], dtype=bool)
    mask[_top(s, max(1, int(np.floor(budget * s.shape[0]))))] = True
    return mask


def card_precision_at_k(
    day: np.ndarray,
    card: np.ndarray,
    y: np.ndarray,
    s: np.ndarray,
    k: int = 100,
    remove_detected: bool = False,
) -> float:
    """Mean over days of the fraud share among the ``k`` cards with the highest max score.

    Per day, each card scores the max of its transactions' scores and is compromised
    if any of its transactions that day is fraud. ``remove_detected=True`` is the
    handbook's default variant: a compromised card found in an earlier day's top-k is
    dropped from later days. ``False`` is the plain per-day version.

    Example:
        >>> cp = card_precision_at_k(np.array([0, 0, 0, 1]), np.array([1, 1, 2, 1]),
        ...                          np.array([0, 1, 0, 1]), np.array([.1, .9, .5, .8]), k=1)
        >>> cp
        1.0
    """
    y, s = _check(y, s)
    day = np.asarray(day)
    card = np.asarray(card)
    detected: set[object] = set()
    per_day: list[float] = []
    for d in np.unique(day):
        m = day == d
        cards_d, inv = np.unique(card[m], return_inverse=True)
        best = np.full(cards_d.shape[0], -np.inf)
        np.maximum.at(best, inv, s[m])
        bad = np.zeros(cards_d.shape[0], dtype=np.int8)
        np.maximum.at(bad, inv, y[m])
        if remove_detected and detected:
            keep = np.array([c not in detected for c in cards_d.tolist()], dtype=bool)
            cards_d, best, bad = cards_d[keep], best[keep], bad[keep]
        top = _top(best, k)
        per_day.append(float(bad[top].sum()) / k)
        if remove_detected:
            detected.update(cards_d[top][bad[top] == 1].tolist())
    return float(np.mean(per_day)) if per_day else float("nan")


def summary(y: np.ndarray, s: np.ndarray, budget: float = 0.005) -> dict[str, float | int]:
    """The standard metric set of a report."""
    y, s = _check(y, s)
    return {
        "n": int(y.shape[0]),
        "positives": int(y.sum()),
        "roc_auc": roc_auc(y, s),
        "average_precision": average_precision(y, s),
        f"recall_at_{budget:g}": recall_at_budget(y, s, budget) if y.any() else float("nan"),
        "precision_at_100": precision_at_k(y, s, 100),
    }
