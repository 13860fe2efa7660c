"""Shared plumbing of the tabular scorers: input checks, persistence, reason codes.

Every scorer stores its state as plain attributes and is persisted whole with
joblib; :func:`save_model` writes to a temporary file and renames, so a reader
polling the registry never sees half a file.
"""

from __future__ import annotations

import hashlib
import logging
import os
from pathlib import Path
from typing import Any, TypeVar

import joblib
import numpy as np

from fraudstream.errors import ConfigError, ValidationError

log = logging.getLogger(__name__)

T = TypeVar("T")


def as_matrix(x: Any, feature_names: tuple[str, ...]) -> np.ndarray:
    """``x`` as a float64 [n, f] matrix; inf becomes NaN (missing), bad shapes raise."""
    arr = np.asarray(x, dtype=np.float64)
    if arr.ndim == 1:
        arr = arr.reshape(1, -1)
    if arr.ndim != 2 or arr.shape[1] != len(feature_names):
        raise ValidationError(
            f"expected a matrix with {len(feature_names)} columns {feature_names[:3]}..., "
            f"got shape {arr.shape}",
            field="features",
        )
    # NaN (missing) is common and stays as it is; only an infinity needs a copy.
    inf = np.isinf(arr)
    if inf.any():
        arr = np.where(inf, np.nan, arr)
    return arr


def check_labels(y: Any, n: int) -> np.ndarray:
    """Labels as int8 0/1 of length ``n``."""
    arr = np.asarray(y).ravel()
    if arr.shape[0] != n:
        raise ValidationError(f"{arr.shape[0]} labels for {n} rows", field="labels")
    if not np.isin(arr, (0, 1)).all():
        raise ValidationError("labels must be 0 or 1", field="labels")
    return arr.astype(np.int8)


def top_reasons(contrib: np.ndarray, names: tuple[str, ...], top_k: int) -> list[list[str]]:
    """Per row, the names of the ``top_k`` features with the largest positive contribution.

    Example:
        >>> top_reasons(np.array([[0.1, 0.5, -1.0]]), ("a", "b", "c"), 2)
        [['b', 'a']]
    """
    if contrib.shape[0] == 0:
        return []
    k = max(0, min(top_k, contrib.shape[1]))
    c = np.nan_to_num(contrib, nan=0.0)
    # Stable: larger contribution first, ties by column order.
    order = np.argsort(-c, axis=1, kind="stable")[:, :k]
    out: list[list[str]] = []
    for row, idx in zip(c, order, strict=True):
        out.append([names[j] for j in idx if row[j] > 0.0])
    return out


def content_version(prefix: str, *parts: Any) -> str:
    """A short, deterministic version string derived from a model's parameters."""
    digest = hashlib.sha256()
    for part in parts:
        digest.update(
            np.ascontiguousarray(part).tobytes()
            if isinstance(part, np.ndarray)
            else repr(part).encode()
        )
    return f"{prefix}-{digest.hexdigest()[:10]}"


def save_model(model: object, path: Path) -> Path:
    """Persist ``model`` with joblib atomically (tmp file + rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    joblib.dump(model, tmp, compress=3)
    tmp.replace(path)
    return path


def load_model(path: Path, expected: type[T]) -> T:
    """Load a model saved by :func:`save_model` and check its type."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"model file {path} does not exist")
    obj = joblib.load(path)  # artifacts come from our own registry only
    if not isinstance(obj, expected):
        raise ConfigError(f"{path} holds a {type(obj).__name__}, not a {expected.__name__}")
    return obj


class EcdfScaler:
    """Maps raw anomaly scores to [0, 1] by their rank among training scores.

    Example:
        >>> e = EcdfScaler.fit(np.arange(100.0))
        >>> float(e.transform(np.array([-5.0]))[0]), float(e.transform(np.array([1e9]))[0])
        (0.0, 1.0)
    """

    def __init__(self, quantiles: np.ndarray) -> None:
        self.quantiles = quantiles

    @classmethod
    def fit(cls, raw: np.ndarray, n_points: int = 1001) -> EcdfScaler:
        """Remember ``n_points`` quantiles of the training raw scores."""
        raw = np.asarray(raw, dtype=np.float64)
        raw = raw[np.isfinite(raw)]
        if raw.size == 0:
            raise ValidationError("no finite training scores", field="features")
        return cls(np.quantile(raw, np.linspace(0.0, 1.0, n_points)))

    def transform(self, raw: np.ndarray) -> np.ndarray:
        """Rank of each raw score in the training distribution, in [0, 1]."""
        q = self.quantiles
        grid = np.linspace(0.0, 1.0, q.shape[0])
        out = np.interp(np.nan_to_num(raw, nan=q[-1]), q, grid, left=0.0, right=1.0)
        return np.clip(out, 0.0, 1.0)
