"""Test-then-train (prequential) evaluation of the online model, next to a batch model.

The stream is replayed in time order in mini-batches: every batch is first
scored by the online model as it stands, then learned (``learn_many``). Each row
is therefore scored by a model that never saw it. The batch model is trained
once on the first ``batch_train_fraction`` of the stream and scored on the rest;
the online model's figure over exactly the same rows sits next to it.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from fraudstream.datasets.base import Dataset
from fraudstream.detect.models.gbm import GradientBoostingModel
from fraudstream.detect.models.online import OnlineLogisticModel
from fraudstream.learn import metrics

log = logging.getLogger(__name__)


def prequential_scores(
    x: np.ndarray,
    y: np.ndarray,
    names: tuple[str, ...],
    *,
    batch_size: int = 1000,
    positive_weight: float = 1.0,
    seed: int = 0,
) -> np.ndarray:
    """Per-row score given before the row was learned (NaN until the model exists)."""
    model = OnlineLogisticModel(names, positive_weight=positive_weight, seed=seed)
    out = np.full(y.shape[0], np.nan)
    for lo in range(0, y.shape[0], batch_size):
        hi = min(lo + batch_size, y.shape[0])
        if model.is_fitted:
            out[lo:hi] = model.predict_many(x[lo:hi])
        model.learn_many(x[lo:hi], y[lo:hi])
    return out


def _auc(y: np.ndarray, s: np.ndarray) -> dict[str, float | int]:
    m = ~np.isnan(s)
    return {
        "roc_auc": metrics.roc_auc(y[m], s[m]),
        "average_precision": metrics.average_precision(y[m], s[m]),
        "n": int(m.sum()),
    }


def prequential_report(
    ds: Dataset,
    *,
    batch_size: int = 1000,
    batch_train_fraction: float = 0.25,
    seed: int = 0,
    gbm_params: dict[str, Any] | None = None,
) -> dict[str, dict[str, float | int]]:
    """Rows: online (plain and class-weighted) over the whole stream and over the tail,
    and the batch GBM over the tail."""
    order = np.argsort(ds.times(), kind="stable")
    x, y = ds.matrix()[order], ds.labels()[order]
    names = ds.feature_names
    cut = int(batch_train_fraction * y.shape[0])
    weight = float(np.clip((y.size - y.sum()) / max(int(y.sum()), 1), 1.0, 100.0))
    rows: dict[str, dict[str, float | int]] = {}
    for label, w in (("online_sgd", 1.0), ("online_sgd_class_weighted", weight)):
        s = prequential_scores(x, y, names, batch_size=batch_size, positive_weight=w, seed=seed)
        rows[f"{label} (whole stream)"] = _auc(y, s)
        rows[f"{label} (tail)"] = _auc(y[cut:], s[cut:])
        log.info("prequential %s: %s", label, rows[f"{label} (tail)"])
    params = {"n_estimators": 100, "max_depth": 6, "learning_rate": 0.1, **(gbm_params or {})}
    gbm = GradientBoostingModel(names, seed=seed, **params).fit(x[:cut], y[:cut])
    rows["batch_gbm (tail, trained on head)"] = _auc(y[cut:], gbm.predict(x[cut:]))
    return rows
