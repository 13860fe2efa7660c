"""Isolation forest: unsupervised, catches what no label has shown yet.

Missing values are imputed with the training medians. The raw anomaly score is
mapped to [0, 1] by its rank among the training rows' scores (an empirical CDF),
so 0.99 means "more isolated than 99 % of training traffic". Reason codes are
the features furthest from their training median in robust units (|x - median| /
IQR), which is cheap and matches what isolates a point.
"""

from __future__ import annotations

import numpy as np
from sklearn.ensemble import IsolationForest

from fraudstream.detect.models.common import (
    EcdfScaler,
    as_matrix,
    content_version,
    top_reasons,
)
from fraudstream.errors import ValidationError


class RobustDeviation:
    """Training medians and IQRs; imputes NaN and measures robust deviations."""

    def __init__(self, x: np.ndarray) -> None:
        med = np.nanmedian(x, axis=0) if x.shape[0] else np.zeros(x.shape[1])
        self.median = np.nan_to_num(med, nan=0.0)
        q75, q25 = np.nanpercentile(x, [75, 25], axis=0)
        iqr = np.nan_to_num(q75 - q25, nan=0.0)
        std = np.nan_to_num(np.nanstd(x, axis=0), nan=0.0)
        self.scale = np.where(iqr > 0, iqr, np.where(std > 0, std, 1.0))

    def impute(self, x: np.ndarray) -> np.ndarray:
        return np.where(np.isnan(x), self.median, x)

    def deviation(self, x: np.ndarray) -> np.ndarray:
        return np.abs(self.impute(x) - self.median) / self.scale


class IsolationForestModel:
    """Isolation forest implementing ``ScoringModel``.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> m = IsolationForestModel(("a", "b"), n_estimators=50).fit(rng.normal(size=(500, 2)))
        >>> s = m.predict(np.array([[0.0, 0.0], [8.0, 0.0]]))
        >>> bool(s[1] > s[0]), m.explain(np.array([[8.0, 0.0]]), top_k=1)
        (True, [['a']])
    """

    def __init__(
        self,
        feature_names: tuple[str, ...] | list[str],
        *,
        n_estimators: int = 100,
        max_samples: int = 256,
        seed: int = 0,
        n_jobs: int = 1,
    ) -> None:
        self._names = tuple(feature_names)
        self.forest = IsolationForest(
            n_estimators=n_estimators, max_samples=max_samples, random_state=seed, n_jobs=n_jobs
        )
        self.robust: RobustDeviation | None = None
        self.ecdf: EcdfScaler | None = None
        self._version = "iforest-unfitted"

    @property
    def version(self) -> str:
        return self._version

    @property
    def feature_names(self) -> tuple[str, ...]:
        return self._names

    def fit(self, x: np.ndarray, y: np.ndarray | None = None) -> IsolationForestModel:
        """Fit on ``x``; when labels are given, only the legitimate rows are used."""
        x = as_matrix(x, self._names)
        if y is not None:
            x = x[np.asarray(y).ravel() == 0]
        if x.shape[0] < 2:
            raise ValidationError("need at least 2 training rows", field="features")
        self.robust = RobustDeviation(x)
        xi = self.robust.impute(x)
        self.forest.max_samples = min(int(self.forest.max_samples), xi.shape[0])
        self.forest.fit(xi)
        self.ecdf = EcdfScaler.fit(-self.forest.score_samples(xi))
        self._version = content_version("iforest", self.ecdf.quantiles)
        return self

    def _parts(self) -> tuple[RobustDeviation, EcdfScaler]:
        if self.robust is None or self.ecdf is None:
            raise ValidationError("model is not trained", field="model")
        return self.robust, self.ecdf

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Anomaly score in [0, 1] (rank among training traffic)."""
        robust, ecdf = self._parts()
        x = as_matrix(x, self._names)
        if x.shape[0] == 0:
            return np.zeros(0)
        return ecdf.transform(-self.forest.score_samples(robust.impute(x)))

    def explain(self, x: np.ndarray, top_k: int = 3) -> list[list[str]]:
        """Features furthest from their training median (robust units)."""
        robust, _ = self._parts()
        return top_reasons(robust.deviation(as_matrix(x, self._names)), self._names, top_k)
