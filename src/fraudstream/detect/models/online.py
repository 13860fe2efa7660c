"""Online logistic regression (SGD, log loss) that learns from analyst verdicts.

``learn_many`` does one batched ``partial_fit``; inputs are standardised with
running statistics (``StandardScaler.partial_fit``) so the model needs no offline
pass. Class weights (``positive_weight``) counter the imbalance of fraud labels.

One-class guard: until the model has seen both classes, batches with a single
class are held back (buffered, bounded) and learned together with the first
batch that completes the pair, because a linear model initialised on one class
only would score everything the same. After that, one-class batches are applied:
the class set is fixed and a feedback batch of only frauds is normal.
"""

from __future__ import annotations

import logging

import numpy as np
from scipy.special import expit
from sklearn.linear_model import SGDClassifier
from sklearn.preprocessing import StandardScaler

from fraudstream.detect.models.common import (
    as_matrix,
    check_labels,
    content_version,
    top_reasons,
)
from fraudstream.errors import ValidationError

log = logging.getLogger(__name__)

_CLASSES = np.array([0, 1], dtype=np.int8)
_CLIP = 20.0


class OnlineLogisticModel:
    """SGD logistic regression implementing ``ScoringModel`` with online updates.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> x = rng.normal(size=(500, 2)); y = (x[:, 0] > 1).astype(int)
        >>> m = OnlineLogisticModel(("a", "b"))
        >>> m.learn_many(x, y)
        True
        >>> s = m.predict_many(np.array([[3.0, 0.0], [-3.0, 0.0]]))
        >>> bool(s[0] > s[1]), m.n_updates
        (True, 1)
    """

    def __init__(
        self,
        feature_names: tuple[str, ...] | list[str],
        *,
        alpha: float = 1e-4,
        eta0: float = 0.01,
        positive_weight: float = 1.0,
        seed: int = 0,
        max_pending_rows: int = 100_000,
    ) -> None:
        self._names = tuple(feature_names)
        self.clf = SGDClassifier(
            loss="log_loss",
            alpha=alpha,
            learning_rate="adaptive",
            eta0=eta0,
            random_state=seed,
            average=False,
        )
        self.scaler = StandardScaler()
        self.positive_weight = positive_weight
        self.max_pending_rows = max_pending_rows
        self.n_updates = 0
        self.n_seen = 0
        self._pending: list[tuple[np.ndarray, np.ndarray]] = []
        self._fitted = False

    @property
    def version(self) -> str:
        if not self._fitted:
            return "online-unfitted"
        return content_version("online", self.clf.coef_, self.n_updates)

    @property
    def feature_names(self) -> tuple[str, ...]:
        return self._names

    @property
    def is_fitted(self) -> bool:
        return self._fitted

    def _z(self, x: np.ndarray) -> np.ndarray:
        mean = np.nan_to_num(self.scaler.mean_, nan=0.0)
        z = (np.where(np.isnan(x), mean, x) - mean) / self.scaler.scale_
        return np.clip(np.nan_to_num(z, nan=0.0), -_CLIP, _CLIP)

    def learn_many(self, x: np.ndarray, y: np.ndarray) -> bool:
        """One batched ``partial_fit``; returns False when the batch was held back."""
        x = as_matrix(x, self._names)
        y = check_labels(y, x.shape[0])
        if x.shape[0] == 0:
            return False
        if not self._fitted:
            self._pending.append((x, y))
            ys = np.concatenate([p[1] for p in self._pending])
            if ys.min() == ys.max():
                held = sum(p[0].shape[0] for p in self._pending)
                if held > self.max_pending_rows:
                    raise ValidationError(
                        f"{held} labels of a single class and none of the other", field="labels"
                    )
                log.info("online model: one-class batch held back (%d rows pending)", held)
                return False
            x = np.vstack([p[0] for p in self._pending])
            y = ys
            self._pending = []
        # Running stats ignore NaN (sklearn's partial_fit skips them per feature).
        with np.errstate(invalid="ignore", divide="ignore"):  # an all-NaN column in a batch
            self.scaler.partial_fit(x)
        self.scaler.scale_ = np.where(
            np.isfinite(self.scaler.scale_) & (self.scaler.scale_ > 0), self.scaler.scale_, 1.0
        )
        weight = np.where(y == 1, self.positive_weight, 1.0)
        self.clf.partial_fit(self._z(x), y, classes=_CLASSES, sample_weight=weight)
        self._fitted = True
        self.n_updates += 1
        self.n_seen += int(x.shape[0])
        return True

    def fit(
        self, x: np.ndarray, y: np.ndarray, *, epochs: int = 5, batch_size: int = 4096
    ) -> OnlineLogisticModel:
        """Offline warm start: a few passes of batched ``partial_fit`` in row order."""
        x = as_matrix(x, self._names)
        y = check_labels(y, x.shape[0])
        for _ in range(epochs):
            for lo in range(0, x.shape[0], batch_size):
                self.learn_many(x[lo : lo + batch_size], y[lo : lo + batch_size])
        return self

    def predict_many(self, x: np.ndarray) -> np.ndarray:
        """Fraud probability per row; 0.5 everywhere before the first update."""
        x = as_matrix(x, self._names)
        if not self._fitted:
            return np.full(x.shape[0], 0.5)
        if x.shape[0] == 0:
            return np.zeros(0)
        # sklearn's predict_proba for log loss (expit of X @ coef.T + intercept), without
        # its per-call input validation (~60 us, a tenth of a batch's model time).
        scores = (self._z(x) @ self.clf.coef_.T + self.clf.intercept_).reshape(-1)
        return np.clip(expit(scores), 0.0, 1.0)

    def predict(self, x: np.ndarray) -> np.ndarray:
        """``ScoringModel.predict``: same as :meth:`predict_many`."""
        return self.predict_many(x)

    def learn_one(self, features: dict[str, float], label: int) -> bool:
        """River-style single update from a feature dict (missing keys are NaN)."""
        row = np.array([[features.get(n, np.nan) for n in self._names]], dtype=np.float64)
        return self.learn_many(row, np.array([label]))

    def predict_one(self, features: dict[str, float]) -> float:
        """River-style single prediction from a feature dict."""
        row = np.array([[features.get(n, np.nan) for n in self._names]], dtype=np.float64)
        return float(self.predict_many(row)[0])

    def explain(self, x: np.ndarray, top_k: int = 3) -> list[list[str]]:
        """Features with the largest positive ``coef * standardised value``."""
        x = as_matrix(x, self._names)
        if not self._fitted:
            return [[] for _ in range(x.shape[0])]
        return top_reasons(self._z(x) * self.clf.coef_[0], self._names, top_k)
