"""Training: the four tabular members, the calibrated ensemble, and a baseline.

``train_ensemble`` fits on a training slice and uses a later validation slice
for three things: early stopping of the trees, the ensemble weights (a
non-negative logistic stacking of the members' log-odds) and the calibration.
The test slice, later still, is only ever scored.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sklearn.linear_model import LogisticRegression

from fraudstream.datasets.base import Dataset, frame_fingerprint
from fraudstream.detect.models.autoencoder import AutoencoderModel
from fraudstream.detect.models.calibration import logit
from fraudstream.detect.models.ensemble import WeightedEnsemble
from fraudstream.detect.models.gbm import GradientBoostingModel
from fraudstream.detect.models.isolation import IsolationForestModel
from fraudstream.detect.models.online import OnlineLogisticModel
from fraudstream.learn import metrics
from fraudstream.learn.evaluation import Split, temporal_split

log = logging.getLogger(__name__)

MEMBERS = ("gbm", "online", "iforest", "autoencoder")
_AE_MAX_ROWS = 20_000


def _imbalance(y: np.ndarray) -> float:
    pos = max(int(y.sum()), 1)
    return float(np.clip((y.shape[0] - pos) / pos, 1.0, 100.0))


def train_members(
    x: np.ndarray,
    y: np.ndarray,
    names: Sequence[str],
    *,
    x_val: np.ndarray | None = None,
    y_val: np.ndarray | None = None,
    seed: int = 0,
    members: Sequence[str] = MEMBERS,
    gbm_params: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Fit the requested members on ``x``/``y`` (unsupervised ones on legitimate rows)."""
    names = tuple(names)
    out: dict[str, Any] = {}
    if "gbm" in members:
        out["gbm"] = GradientBoostingModel(names, seed=seed, **(gbm_params or {})).fit(
            x, y, x_val=x_val, y_val=y_val, early_stopping_rounds=50 if x_val is not None else None
        )
    if "online" in members:
        out["online"] = OnlineLogisticModel(
            names, seed=seed, positive_weight=min(_imbalance(y), 20.0)
        ).fit(x, y, epochs=3)
    if "iforest" in members:
        out["iforest"] = IsolationForestModel(names, seed=seed).fit(x, y)
    if "autoencoder" in members:
        rng = np.random.default_rng(seed)
        legit = np.flatnonzero(y == 0)
        rows = np.sort(rng.choice(legit, size=min(legit.size, _AE_MAX_ROWS), replace=False))
        out["autoencoder"] = AutoencoderModel(names, seed=seed).fit(x[rows])
    return out


def stacking_weights(member_scores: dict[str, np.ndarray], y: np.ndarray) -> dict[str, float]:
    """Non-negative weights from a logistic regression on the members' log-odds."""
    keys = list(member_scores)
    z = np.column_stack([logit(member_scores[k]) for k in keys])
    if y.min() == y.max():
        return {k: 1.0 / len(keys) for k in keys}
    lr = LogisticRegression(C=1.0, max_iter=1000).fit(z, y)
    w = np.clip(lr.coef_[0], 0.0, None)
    if w.sum() <= 0:
        w = np.ones(len(keys))
    return {k: float(v / w.sum()) for k, v in zip(keys, w, strict=True)}


def _blend_ap(scores: dict[str, np.ndarray], weights: dict[str, float], y: np.ndarray) -> float:
    z = sum(w * logit(scores[k]) for k, w in weights.items() if w > 0)
    return metrics.average_precision(y, np.asarray(z, dtype=np.float64))


def prune_members(
    scores: dict[str, np.ndarray], y_val: np.ndarray, *, keep: str | None = "gbm"
) -> dict[str, float]:
    """Stacking weights after dropping members that do not help on the validation slice.

    Backward elimination: while removing one member (never ``keep``, the explainer)
    leaves the re-fitted blend's validation average precision at least as high, drop
    it (weight 0, so scoring never calls it). Each member costs CPU per scored batch
    (the autoencoder and the SGD ~1.5-2 us per transaction each on one core).
    """
    active = [k for k, w in stacking_weights(scores, y_val).items() if w > 0]
    best = _blend_ap(scores, stacking_weights({k: scores[k] for k in active}, y_val), y_val)
    while len(active) > 1:
        trials = []
        for k in active:
            if k == keep:
                continue
            rest = [j for j in active if j != k]
            w = stacking_weights({j: scores[j] for j in rest}, y_val)
            trials.append((_blend_ap(scores, w, y_val), k))
        if not trials or max(trials)[0] < best:
            break
        best, dropped = max(trials)
        active.remove(dropped)
        log.info("ensemble member %s dropped (validation AP %.4f without it)", dropped, best)
    weights = stacking_weights({k: scores[k] for k in active}, y_val)
    return {k: weights.get(k, 0.0) for k in scores}


def train_ensemble(
    x: np.ndarray,
    y: np.ndarray,
    x_val: np.ndarray,
    y_val: np.ndarray,
    names: Sequence[str],
    *,
    seed: int = 0,
    members: Sequence[str] = MEMBERS,
    calibration: str = "isotonic",
    gbm_params: dict[str, Any] | None = None,
    prune: bool = False,
) -> WeightedEnsemble:
    """Members on the training slice; weights and calibration on the validation slice.

    With ``prune``, members that do not raise the validation average precision get
    weight 0 (see :func:`prune_members`).
    """
    fitted = train_members(
        x, y, names, x_val=x_val, y_val=y_val, seed=seed, members=members, gbm_params=gbm_params
    )
    scores = {k: m.predict(x_val) for k, m in fitted.items()}
    weights = prune_members(scores, y_val) if prune else stacking_weights(scores, y_val)
    log.info("ensemble weights %s", {k: round(v, 3) for k, v in weights.items()})
    ens = WeightedEnsemble(
        fitted, weights, explainer="gbm" if "gbm" in fitted else None, calibration=calibration
    )
    return ens.calibrate(x_val, y_val)


class LogisticBaseline:
    """Plain logistic regression (median imputation + standardisation), for comparison."""

    def __init__(self, seed: int = 0) -> None:
        self.lr = LogisticRegression(max_iter=2000, random_state=seed)
        self.median: np.ndarray | None = None
        self.mean: np.ndarray | None = None
        self.std: np.ndarray | None = None

    def _z(self, x: np.ndarray) -> np.ndarray:
        assert self.median is not None and self.mean is not None and self.std is not None
        return (np.where(np.isnan(x), self.median, x) - self.mean) / self.std

    def fit(self, x: np.ndarray, y: np.ndarray) -> LogisticBaseline:
        self.median = np.nan_to_num(np.nanmedian(x, axis=0))
        xi = np.where(np.isnan(x), self.median, x)
        self.mean, std = xi.mean(axis=0), xi.std(axis=0)
        self.std = np.where(std > 0, std, 1.0)
        self.lr.fit(self._z(x), y)
        return self

    def predict(self, x: np.ndarray) -> np.ndarray:
        return np.asarray(self.lr.predict_proba(self._z(x))[:, 1], dtype=np.float64)


@dataclass
class TrainResult:
    """A trained ensemble with its held-out metrics (per member too)."""

    ensemble: WeightedEnsemble
    split: Split
    metrics: dict[str, dict[str, float | int]]
    metadata: dict[str, Any] = field(default_factory=dict)


def train_on_dataset(
    ds: Dataset,
    *,
    seed: int = 0,
    budget: float = 0.005,
    calibration: str = "isotonic",
    baseline: bool = True,
    members: Sequence[str] = MEMBERS,
    fractions: tuple[float, float, float] = (0.6, 0.2, 0.2),
) -> TrainResult:
    """Temporal split, train the ensemble, score every model on the test slice."""
    split = temporal_split(ds.times(), fractions)
    x, y = ds.matrix(), ds.labels()
    ens = train_ensemble(
        x[split.train],
        y[split.train],
        x[split.valid],
        y[split.valid],
        ds.feature_names,
        seed=seed,
        members=members,
        calibration=calibration,
    )
    xt, yt = x[split.test], y[split.test]
    scorers: dict[str, Callable[[np.ndarray], np.ndarray]] = {"ensemble": ens.predict}
    scorers.update({k: m.predict for k, m in ens.members.items()})
    if baseline:
        scorers["logistic_regression_baseline"] = (
            LogisticBaseline(seed).fit(x[split.train], y[split.train]).predict
        )
    rows = {name: metrics.summary(yt, f(xt), budget) for name, f in scorers.items()}
    meta = {
        "dataset": ds.name,
        "training_data_fingerprint": frame_fingerprint(
            ds.frame.iloc[split.train], [*ds.feature_names, ds.label_col]
        ),
        "metrics": rows["ensemble"],
        "ensemble_weights": ens.weights,
        "split": {
            "train": int(split.train.size),
            "valid": int(split.valid.size),
            "test": int(split.test.size),
            "by": ds.time_col,
            "fractions": list(fractions),
        },
        "notes": ds.notes,
    }
    return TrainResult(ensemble=ens, split=split, metrics=rows, metadata=meta)
