"""Drift windows, references in the registry, and the drift-triggered retraining.

The window is read from the ``scores`` table (the sink stores each scored feature
vector and the fraud score) or from a JSONL file of scored transactions. The
reference of a model lives in the registry beside it (``vNNNN/drift_reference.json``).

:func:`retrain_candidate` runs the training library function, registers the
result as a **candidate** with the drift report that caused it, and writes the
new version's reference. It never promotes: a human (or a later evaluation gate)
decides with ``fraudstream models promote``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from fraudstream.detect.registry import ModelRegistry
from fraudstream.errors import NotFoundError, ValidationError
from fraudstream.features.contract import FEATURE_NAMES
from fraudstream.learn.drift import REFERENCE_FILE, DriftReference, DriftReport
from fraudstream.observe.metrics import DRIFT_RETRAINS
from fraudstream.settings import DriftSettings

logger = logging.getLogger(__name__)


@dataclass
class Trained:
    """What a training function hands the trigger: the model, its metadata, its frame."""

    model: Any
    metadata: dict[str, Any]
    x_train: np.ndarray
    feature_names: Sequence[str]


TrainFn = Callable[[], Trained]


def _matrix(feats: Sequence[dict[str, Any] | None], names: Sequence[str]) -> np.ndarray:
    x = np.full((len(feats), len(names)), np.nan)
    for i, f in enumerate(feats):
        if f:
            x[i] = [np.nan if f.get(n) is None else float(f[n]) for n in names]
    return x


def window_from_db(engine: Any, n: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``n`` most recently scored rows: feature matrix (contract order) and scores."""
    from sqlalchemy import select

    from fraudstream.store.db import store_errors
    from fraudstream.store.models import Score

    stmt = (
        select(Score.features, Score.fraud_score)
        .where(Score.features.is_not(None))
        .order_by(Score.scored_at.desc())
        .limit(n)
    )
    with store_errors("drift window"), engine.connect() as conn:
        rows = conn.execute(stmt).all()
    rows.reverse()  # oldest first
    return _matrix([r[0] for r in rows], FEATURE_NAMES), np.array([r[1] for r in rows], float)


def window_from_jsonl(path: Path, n: int) -> tuple[np.ndarray, np.ndarray]:
    """The last ``n`` scored transactions of a JSONL file (``features`` + ``fraud_score``)."""
    feats: list[dict[str, Any] | None] = []
    scores: list[float] = []
    with Path(path).open("rb") as fh:
        for i, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                rec = orjson.loads(line)
                feats.append(rec.get("features"))
                scores.append(float(rec.get("fraud_score", np.nan)))
            except (orjson.JSONDecodeError, AttributeError, TypeError, ValueError) as exc:
                raise ValidationError(f"{path}:{i}: not a scored transaction: {exc}") from exc
    return _matrix(feats[-n:], FEATURE_NAMES), np.array(scores[-n:], dtype=np.float64)


def reference_path(registry: ModelRegistry, settings: DriftSettings, version: str | None) -> Path:
    """``settings.reference_path``, else the reference beside ``version`` (the champion)."""
    if settings.reference_path is not None:
        return settings.reference_path
    version = version or registry.champion_version()
    if version is None:
        raise NotFoundError(
            "no champion model, so no drift reference; pass --reference or promote a model"
        )
    return registry.root / version / REFERENCE_FILE


def write_reference(
    registry: ModelRegistry,
    version: str,
    x_train: np.ndarray,
    names: Sequence[str],
    model: Any,
    bins: int,
) -> Path:
    """Fit and save the reference of ``version`` from its training matrix and scores."""
    scores = np.asarray(model.predict(x_train), dtype=np.float64)
    ref = DriftReference.fit(x_train, names, scores, bins=bins, meta={"version": version})
    return ref.save(registry.root / version / REFERENCE_FILE)


def synthetic_train_matrix(n_transactions: int, seed: int) -> np.ndarray:
    """The training slice of ``train_synthetic(n_transactions, seed)``, without training.

    The generator is deterministic under a seed and the split is the same temporal
    split, so this is the frame the model learned from (for its drift reference).
    """
    import pandas as pd

    from fraudstream.features.offline import offline_features
    from fraudstream.learn.evaluation import temporal_split
    from fraudstream.learn.synthetic import synthetic_records

    df = pd.DataFrame.from_records(synthetic_records(n_transactions, seed))
    x = offline_features(df)
    return x[temporal_split(df["event_time"].to_numpy(dtype=np.float64)).train]


def synthetic_trainer(n_transactions: int, seed: int = 0) -> TrainFn:
    """The training library function on a fresh synthetic stream, as a :data:`TrainFn`."""

    def train() -> Trained:
        import pandas as pd

        from fraudstream.features.offline import offline_features
        from fraudstream.learn.synthetic import synthetic_records, train_synthetic

        records = synthetic_records(n_transactions, seed)
        result = train_synthetic(n_transactions, seed, records=records)
        x = offline_features(pd.DataFrame.from_records(records))
        return Trained(result.ensemble, result.metadata, x[result.split.train], FEATURE_NAMES)

    return train


def retrain_candidate(
    registry: ModelRegistry, report: DriftReport, train: TrainFn, settings: DriftSettings
) -> str:
    """Train, register as a candidate (never champion) with the drift report, save a reference."""
    try:
        t = train()
    except Exception:
        DRIFT_RETRAINS.labels(outcome="failed").inc()
        raise
    meta = dict(t.metadata)
    meta["trigger"] = {
        "kind": "drift",
        "champion": registry.champion_version(),
        "drifted": report.drifted,
        "score_drifted": report.score_drifted,
        "window_rows": report.n_rows,
    }
    version = registry.register(t.model, meta)
    write_reference(registry, version, t.x_train, t.feature_names, t.model, settings.bins)
    DRIFT_RETRAINS.labels(outcome="candidate").inc()
    logger.warning("drift: retrained %s registered as a candidate (champion unchanged)", version)
    return version


def maybe_retrain(
    registry: ModelRegistry, report: DriftReport, train: TrainFn, settings: DriftSettings
) -> str | None:
    """:func:`retrain_candidate` when the report's trigger fired and retraining is enabled."""
    if not (report.triggered and settings.retrain_on_drift):
        return None
    return retrain_candidate(registry, report, train, settings)
