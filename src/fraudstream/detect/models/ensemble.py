"""Weighted ensemble of scorers, blended in log-odds space, then calibrated.

Members' outputs live on different scales (a GBM probability, an isolation-forest
rank); averaging their log-odds with non-negative weights keeps one confident
member able to dominate, which a plain mean of probabilities dilutes. The blend is
then calibrated (isotonic or Platt) on a validation slice into ``fraud_score``.

Reason codes come from the designated explainer member (the tree model's
approximate contributions by default), so every decision carries them.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

import numpy as np

from fraudstream.detect.base import ScoringModel
from fraudstream.detect.models.calibration import Calibrator, logit
from fraudstream.detect.models.common import as_matrix, content_version
from fraudstream.errors import ValidationError

log = logging.getLogger(__name__)


class WeightedEnsemble:
    """A calibrated, weighted log-odds blend of ``ScoringModel`` members.

    All members must share ``feature_names`` (the feature contract's matrix).

    Example:
        >>> from fraudstream.detect.models.online import OnlineLogisticModel
        >>> rng = np.random.default_rng(0)
        >>> x = rng.normal(size=(400, 2)); y = (x[:, 0] > 1).astype(int)
        >>> a = OnlineLogisticModel(("u", "v")).fit(x, y)
        >>> ens = WeightedEnsemble({"sgd": a}, {"sgd": 1.0}).calibrate(x, y)
        >>> s = ens.predict(x[:3]); bool(((s >= 0) & (s <= 1)).all())
        True
    """

    def __init__(
        self,
        members: Mapping[str, ScoringModel],
        weights: Mapping[str, float],
        *,
        explainer: str | None = None,
        calibration: str = "isotonic",
    ) -> None:
        if not members:
            raise ValidationError("an ensemble needs at least one member", field="members")
        names = {m.feature_names for m in members.values()}
        if len(names) != 1:
            raise ValidationError("members disagree on feature_names", field="members")
        unknown = set(weights) - set(members)
        if unknown or any(w < 0 for w in weights.values()):
            raise ValidationError(f"bad weights {dict(weights)}", field="weights")
        total = sum(weights.get(k, 0.0) for k in members)
        if total <= 0:
            raise ValidationError("weights sum to zero", field="weights")
        self.members = dict(members)
        self.weights = {k: weights.get(k, 0.0) / total for k in members}
        best = max(self.weights, key=lambda k: self.weights[k])
        self.explainer: str = explainer if explainer is not None and explainer in members else best
        self._names = next(iter(names))
        self.calibrator = Calibrator("platt" if calibration == "platt" else "isotonic")

    @property
    def version(self) -> str:
        parts = sorted((k, m.version, round(self.weights[k], 6)) for k, m in self.members.items())
        return content_version("ensemble", parts, self.calibrator.fitted)

    @property
    def feature_names(self) -> tuple[str, ...]:
        return self._names

    def member_scores(self, x: np.ndarray) -> dict[str, np.ndarray]:
        """Each member's own score for the rows of ``x``."""
        x = as_matrix(x, self._names)
        return {k: m.predict(x) for k, m in self.members.items() if self.weights[k] > 0}

    def blend(self, x: np.ndarray) -> np.ndarray:
        """Uncalibrated blend in [0, 1] (sigmoid of the weighted mean log-odds)."""
        scores = self.member_scores(x)
        z = sum(self.weights[k] * logit(s) for k, s in scores.items())
        return 1.0 / (1.0 + np.exp(-np.asarray(z, dtype=np.float64)))

    def calibrate(self, x_val: np.ndarray, y_val: np.ndarray) -> WeightedEnsemble:
        """Fit the calibrator on a validation slice (never the training rows)."""
        self.calibrator.fit(self.blend(x_val), y_val)
        return self

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Calibrated ``fraud_score`` in [0, 1]."""
        x = as_matrix(x, self._names)
        if x.shape[0] == 0:
            return np.zeros(0)
        return self.calibrator.transform(self.blend(x))

    def explain(self, x: np.ndarray, top_k: int = 3) -> list[list[str]]:
        """Reason codes of the explainer member."""
        return self.members[self.explainer].explain(x, top_k)
