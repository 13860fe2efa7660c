"""Where the online learner finds the features a transaction was scored with.

The sink stores the feature snapshot of every scored transaction in
``scores.features``; :class:`DbFeatureLookup` reads it back in one query per 500
ids. :class:`DictFeatureLookup` is the in-memory twin (tests, or a cache filled
from ``fraud-scores``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol


class FeatureLookup(Protocol):
    """Feature vectors as scored, by transaction id (missing ids are absent)."""

    def features_for(self, transaction_ids: Sequence[str]) -> dict[str, Mapping[str, float]]: ...


class DictFeatureLookup:
    """Features from a dict (tests, or a cache filled from ``fraud-scores``).

    Example:
        >>> DictFeatureLookup({"t1": {"amount": 3.0}}).features_for(["t1", "t2"])
        {'t1': {'amount': 3.0}}
    """

    def __init__(self, features: dict[str, Mapping[str, float]]) -> None:
        self.features = features

    def features_for(self, transaction_ids: Sequence[str]) -> dict[str, Mapping[str, float]]:
        return {t: self.features[t] for t in transaction_ids if t in self.features}


class DbFeatureLookup:
    """Features from the ``scores`` table (the sink stores each scored feature vector).

    Example:
        >>> from fraudstream.settings import DatabaseSettings
        >>> from fraudstream.store.db import make_engine
        >>> from fraudstream.store.migrate import upgrade
        >>> engine = make_engine(DatabaseSettings(url="sqlite://")); upgrade(engine)
        >>> DbFeatureLookup(engine).features_for(["nope"])
        {}
    """

    def __init__(self, engine: Any) -> None:
        self.engine = engine

    def close(self) -> None:
        self.engine.dispose()

    def features_for(self, transaction_ids: Sequence[str]) -> dict[str, Mapping[str, float]]:
        from sqlalchemy import select

        from fraudstream.store.db import store_errors
        from fraudstream.store.models import Score

        out: dict[str, Mapping[str, float]] = {}
        ids = sorted(set(transaction_ids))
        with store_errors("feature lookup"), self.engine.connect() as conn:
            for lo in range(0, len(ids), 500):
                stmt = select(Score.transaction_id, Score.features).where(
                    Score.transaction_id.in_(ids[lo : lo + 500]), Score.features.is_not(None)
                )
                for tx_id, feats in conn.execute(stmt):
                    out[tx_id] = feats
        return out
