"""The contract between the stream processor and detection.

The pipeline hands detection a whole batch plus the partition's state store and
gets back one decision per record. Detection is pure apart from the store: it
never touches the network.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import numpy as np

from fraudstream.events.batch import TransactionBatch

RISK_LEVELS = ("LOW", "MEDIUM", "HIGH", "CRITICAL")
ACTIONS = ("ALLOW", "REVIEW", "BLOCK")


@runtime_checkable
class KeyValueStore(Protocol):
    """Per-partition state. Writes are captured and written to a compacted changelog
    topic inside the same Kafka transaction as the outputs, so state after a crash
    equals the state of a crash-free run.
    """

    def get(self, key: str) -> bytes | None: ...

    def put(self, key: str, value: bytes) -> None: ...

    def delete(self, key: str) -> None: ...

    def keys(self) -> Iterable[str]: ...


@dataclass(slots=True)
class Decisions:
    """One decision per record of a batch, in batch order.

    Attributes:
        fraud_score: float64 [n], calibrated, in [0, 1].
        risk_level: object [n], one of ``RISK_LEVELS``.
        action: object [n], one of ``ACTIONS`` (CRITICAL -> BLOCK, HIGH -> REVIEW).
        reasons: n lists of reason codes (top features, rules that fired, graph reasons).
        model_version: the version of the scorer that decided.
        features: float32/64 [n, f] feature matrix as scored, or None.
        feature_names: names of the columns of ``features``.
    """

    fraud_score: np.ndarray
    risk_level: np.ndarray
    action: np.ndarray
    reasons: list[list[str]]
    model_version: str
    features: np.ndarray | None = None
    feature_names: tuple[str, ...] = field(default=())

    def __len__(self) -> int:
        return int(self.fraud_score.shape[0])

    @property
    def flagged(self) -> np.ndarray:
        """Boolean mask of records that become alerts (action REVIEW or BLOCK)."""
        return np.asarray(self.action != "ALLOW", dtype=bool)


@runtime_checkable
class Detector(Protocol):
    """Scores a batch of transactions. Must be deterministic for a given state."""

    @property
    def version(self) -> str: ...

    def score(self, batch: TransactionBatch, state: KeyValueStore) -> Decisions: ...


@runtime_checkable
class ScoringModel(Protocol):
    """A trained tabular model over the feature contract's matrix.

    ``predict`` returns calibrated fraud probabilities in [0, 1] for the rows of
    ``x`` (columns in ``feature_names`` order; NaN means missing). ``explain``
    returns, per row, the reason codes of the top contributing features, cheap
    enough for the hot path (approximate contributions, not exact SHAP).
    """

    @property
    def version(self) -> str: ...

    @property
    def feature_names(self) -> tuple[str, ...]: ...

    def predict(self, x: np.ndarray) -> np.ndarray: ...

    def explain(self, x: np.ndarray, top_k: int = 3) -> list[list[str]]: ...
