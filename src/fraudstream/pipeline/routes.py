"""The routes a scoring worker runs: transactions -> scores/alerts (and their codecs).

A :class:`~fraudstream.pipeline.processor.Route` is assembled here from the
codec (Avro in production, JSON for the seed-style baseline), the validator and
the detector. Output records follow ``scored_transaction.avsc`` and ``alert.avsc``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import orjson

from fraudstream.detect.base import Decisions, Detector
from fraudstream.errors import DecodeError, RecordError, SchemaValidationError
from fraudstream.events.batch import TransactionBatch
from fraudstream.pipeline.processor import EncodeMany, EncodeOutputs, Route, ValidateMany
from fraudstream.pipeline.state import PartitionStore

Record = dict[str, Any]

TRANSACTION_REQUIRED = (
    "transaction_id",
    "event_time",
    "card_id",
    "account_id",
    "customer_id",
    "merchant_id",
    "merchant_category",
    "merchant_country",
    "customer_country",
    "amount",
    "currency",
    "channel",
    "tx_type",
)


def build_scored(
    records: list[Record], d: Decisions, now_ms: int, latency_ms: float
) -> tuple[list[Record], list[int]]:
    """The decision fields of each scored transaction, and the flagged indexes."""
    scores = d.fraud_score.tolist()
    risks = d.risk_level.tolist()
    actions = d.action.tolist()
    feats: list[dict[str, float]] | list[None]
    if d.features is not None and d.feature_names:
        names = d.feature_names
        feats = [dict(zip(names, row, strict=True)) for row in d.features.tolist()]
    else:
        feats = [None] * len(records)
    out = [
        {
            "fraud_score": scores[i],
            "risk_level": risks[i],
            "action": actions[i],
            "reasons": d.reasons[i],
            "model_version": d.model_version,
            "scored_at": now_ms,
            "latency_ms": latency_ms,
            "model_scores": None,
            "features": feats[i],
        }
        for i in range(len(records))
    ]
    flagged = np.flatnonzero(d.flagged).tolist()
    return out, flagged


def build_alert(tx: Record, scored: Record) -> Record:
    """The alert of a flagged transaction (BLOCK for CRITICAL, REVIEW for HIGH)."""
    return {
        "transaction_id": tx["transaction_id"],
        "card_id": tx["card_id"],
        "amount": tx["amount"],
        "currency": tx["currency"],
        "merchant_id": tx["merchant_id"],
        "fraud_score": scored["fraud_score"],
        "risk_level": scored["risk_level"],
        "action": "BLOCK" if scored["action"] == "BLOCK" else "REVIEW",
        "reasons": scored["reasons"],
        "model_version": scored["model_version"],
        "created_at": scored["scored_at"],
        "event_time": tx["event_time"],
    }


def detector_scorer(detector: Detector) -> Any:
    """Adapt a batch :class:`Detector` to the route's ``score(records, store)``."""

    def score(records: list[Record], store: PartitionStore) -> Decisions:
        return detector.score(TransactionBatch(records), store)

    return score


def transaction_route(
    *,
    input_topic: str,
    scores_topic: str,
    alerts_topic: str,
    detector: Detector,
    decode: Any,
    encode_scored: EncodeOutputs,
    encode_alert: EncodeMany,
    validate: ValidateMany,
) -> Route:
    """The transactions -> fraud-scores (+ fraud-alerts) route."""
    return Route(
        input_topic=input_topic,
        output_topic=scores_topic,
        key_field="card_id",
        decode=decode,
        validate=validate,
        score=detector_scorer(detector),
        build=build_scored,
        encode_output=encode_scored,
        alert_topic=alerts_topic,
        alert=build_alert,
        encode_alert=encode_alert,
    )


# -- JSON codec: the seed-style baseline and the unit tests ----------------------------
def json_decode_transactions(values: Sequence[bytes | None]) -> list[Record | RecordError]:
    """Decode JSON transactions; a non-object or a missing field is a typed error."""
    out: list[Record | RecordError] = []
    for v in values:
        if v is None:
            out.append(DecodeError("empty value (tombstone)"))
            continue
        try:
            rec = orjson.loads(v)
        except orjson.JSONDecodeError as exc:
            out.append(DecodeError(f"not JSON: {exc}"))
            continue
        if not isinstance(rec, dict):
            out.append(DecodeError(f"not a JSON object: {type(rec).__name__}"))
            continue
        missing = next((f for f in TRANSACTION_REQUIRED if rec.get(f) is None), None)
        if missing is not None:
            out.append(SchemaValidationError("required field missing", field=missing))
            continue
        out.append(rec)
    return out


def json_encode_outputs(
    records: Sequence[Record], extra: Sequence[Record], _raw: Sequence[bytes | None]
) -> list[bytes]:
    """Encode input + decision fields as one JSON object each."""
    return [orjson.dumps({**r, **x}, default=_default) for r, x in zip(records, extra, strict=True)]


def json_encode(records: Sequence[Record]) -> list[bytes]:
    """Encode records as JSON (bytes become latin-1 strings)."""
    return [orjson.dumps(r, default=_default) for r in records]


def _default(obj: object) -> object:
    if isinstance(obj, bytes):
        return obj.decode("latin-1")
    if hasattr(obj, "timestamp"):
        return int(obj.timestamp() * 1000)  # datetime from a decoder
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")
