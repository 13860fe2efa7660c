"""A small autoencoder (scikit-learn MLP reconstructing its standardised input).

Trained on legitimate traffic, it reconstructs normal rows well and unusual ones
badly; the reconstruction error, ranked against training errors, is the score.
Reason codes are the features with the largest reconstruction error.
"""

from __future__ import annotations

import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPRegressor

from fraudstream.detect.models.common import (
    EcdfScaler,
    as_matrix,
    content_version,
    top_reasons,
)
from fraudstream.detect.models.isolation import RobustDeviation
from fraudstream.errors import ValidationError

#: Standardised values are clipped here so one extreme feature cannot blow the error up.
_CLIP = 20.0


class AutoencoderModel:
    """Reconstruction-error anomaly scorer implementing ``ScoringModel``.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> z = rng.normal(size=(600, 1)); x = np.hstack([z, 2 * z, -z])
        >>> m = AutoencoderModel(("a", "b", "c"), hidden=(2,), max_iter=300).fit(x)
        >>> s = m.predict(np.array([[1.0, 2.0, -1.0], [1.0, -2.0, 1.0]]))
        >>> bool(s[1] > s[0])
        True
    """

    def __init__(
        self,
        feature_names: tuple[str, ...] | list[str],
        *,
        hidden: tuple[int, ...] = (16, 4, 16),
        max_iter: int = 200,
        seed: int = 0,
    ) -> None:
        self._names = tuple(feature_names)
        self.net = MLPRegressor(
            hidden_layer_sizes=hidden,
            activation="tanh",
            max_iter=max_iter,
            random_state=seed,
            early_stopping=False,
            tol=1e-5,
        )
        self.robust: RobustDeviation | None = None
        self.mean: np.ndarray | None = None
        self.std: np.ndarray | None = None
        self.ecdf: EcdfScaler | None = None
        self._version = "autoencoder-unfitted"

    @property
    def version(self) -> str:
        return self._version

    @property
    def feature_names(self) -> tuple[str, ...]:
        return self._names

    def _standardise(self, x: np.ndarray) -> np.ndarray:
        assert self.robust is not None and self.mean is not None and self.std is not None
        z = (self.robust.impute(x) - self.mean) / self.std
        return np.clip(z, -_CLIP, _CLIP)

    def fit(self, x: np.ndarray, y: np.ndarray | None = None) -> AutoencoderModel:
        """Fit on ``x``; when labels are given, only the legitimate rows are used."""
        x = as_matrix(x, self._names)
        if y is not None:
            x = x[np.asarray(y).ravel() == 0]
        if x.shape[0] < 10:
            raise ValidationError("need at least 10 training rows", field="features")
        self.robust = RobustDeviation(x)
        xi = self.robust.impute(x)
        self.mean = xi.mean(axis=0)
        std = xi.std(axis=0)
        self.std = np.where(std > 0, std, 1.0)
        z = self._standardise(x)
        with warnings.catch_warnings():
            # Few iterations on purpose (speed); not converging is expected.
            warnings.simplefilter("ignore", ConvergenceWarning)
            self.net.fit(z, z)
        self.ecdf = EcdfScaler.fit(self._errors(z).mean(axis=1))
        self._version = content_version("autoencoder", self.ecdf.quantiles)
        return self

    def _errors(self, z: np.ndarray) -> np.ndarray:
        return np.square(self.net.predict(z).reshape(z.shape) - z)

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Anomaly score in [0, 1] (rank of the reconstruction error)."""
        if self.ecdf is None:
            raise ValidationError("model is not trained", field="model")
        x = as_matrix(x, self._names)
        if x.shape[0] == 0:
            return np.zeros(0)
        return self.ecdf.transform(self._errors(self._standardise(x)).mean(axis=1))

    def explain(self, x: np.ndarray, top_k: int = 3) -> list[list[str]]:
        """Features reconstructed worst."""
        if self.ecdf is None:
            raise ValidationError("model is not trained", field="model")
        x = as_matrix(x, self._names)
        return top_reasons(self._errors(self._standardise(x)), self._names, top_k)
