"""Score calibration on a validation slice: isotonic regression or Platt scaling.

Calibration turns an ensemble's blended score into a fraud probability: among
transactions scored 0.8, about 80 % should be fraud (on data like the validation
slice). Isotonic is monotone and non-parametric (needs a few hundred positives);
Platt fits a logistic curve on the logit of the score (robust with few positives).
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression

from fraudstream.detect.models.common import check_labels
from fraudstream.errors import ValidationError

_EPS = 1e-6
_TIE_BREAK = 1e-6


def logit(p: np.ndarray) -> np.ndarray:
    """Log-odds of probabilities clipped away from 0 and 1."""
    p = np.clip(np.asarray(p, dtype=np.float64), _EPS, 1.0 - _EPS)
    return np.log(p / (1.0 - p))


def _isotonic(iso: IsotonicRegression, s: np.ndarray) -> np.ndarray:
    """``iso.predict(s)`` for a float64 vector, without sklearn's input checks.

    The same steps as ``IsotonicRegression._transform`` (clip to the fitted range,
    its ``interp1d``, cast back); the checks cost a quarter of a batch's model time.
    """
    f = getattr(iso, "f_", None)
    thresholds = getattr(iso, "X_thresholds_", None)
    if f is None or thresholds is None or thresholds.dtype != s.dtype or s.ndim != 1:
        return np.asarray(iso.predict(s))
    if iso.out_of_bounds == "clip":
        s = np.clip(s, iso.X_min_, iso.X_max_)
    return np.asarray(f(s)).astype(s.dtype)


class Calibrator:
    """Maps raw scores in [0, 1] to calibrated probabilities in [0, 1].

    Example:
        >>> s = np.linspace(0, 1, 200); y = (s > 0.7).astype(int)
        >>> c = Calibrator("isotonic").fit(s, y)
        >>> c.transform(np.array([0.1, 0.9])).round(2).tolist()
        [0.0, 1.0]
    """

    def __init__(self, method: Literal["isotonic", "platt"] = "isotonic") -> None:
        if method not in ("isotonic", "platt"):
            raise ValidationError(f"unknown calibration method {method!r}", field="method")
        self.method = method
        self._iso: IsotonicRegression | None = None
        self._platt: LogisticRegression | None = None

    @property
    def fitted(self) -> bool:
        return self._iso is not None or self._platt is not None

    def fit(self, scores: np.ndarray, y: np.ndarray) -> Calibrator:
        """Fit on a validation slice's raw scores and labels (both classes needed)."""
        s = np.asarray(scores, dtype=np.float64).ravel()
        yy = check_labels(y, s.shape[0])
        if yy.min() == yy.max():
            raise ValidationError("calibration slice holds a single class", field="labels")
        if self.method == "isotonic":
            self._iso = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip")
            self._iso.fit(s, yy)
        else:
            self._platt = LogisticRegression(C=1e4)
            self._platt.fit(logit(s).reshape(-1, 1), yy)
        return self

    def transform(self, scores: np.ndarray) -> np.ndarray:
        """Calibrated probabilities; the identity before fitting."""
        s = np.nan_to_num(np.asarray(scores, dtype=np.float64).ravel(), nan=0.0)
        if s.shape[0] == 0:
            return s
        if self._iso is not None:
            # A sliver of the raw score breaks isotonic's ties, so calibration never
            # changes the ranking (ROC AUC, top-k alerts) of the blended score.
            out = (1.0 - _TIE_BREAK) * _isotonic(self._iso, s) + _TIE_BREAK * np.clip(s, 0.0, 1.0)
        elif self._platt is not None:
            out = self._platt.predict_proba(logit(s).reshape(-1, 1))[:, 1]
        else:
            out = s
        return np.clip(np.asarray(out, dtype=np.float64), 0.0, 1.0)
