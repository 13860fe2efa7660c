"""From decoded event records (``scored_transaction``, ``alert``, ``feedback``) to table rows.

Decoders hand timestamps over as epoch milliseconds or aware datetimes; the
store wants aware UTC datetimes. Missing required fields raise
:class:`~fraudstream.errors.ValidationError` naming the field, so the sink can
dead-letter the record instead of crashing.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from fraudstream.errors import ValidationError

Row = dict[str, Any]


def to_datetime(value: Any, field: str) -> datetime:
    """Epoch millis or datetime -> aware UTC datetime.

    Example:
        >>> to_datetime(0, "t").isoformat()
        '1970-01-01T00:00:00+00:00'
    """
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return datetime.fromtimestamp(value / 1000.0, tz=UTC)
    raise ValidationError(f"expected a timestamp, got {type(value).__name__}", field=field)


def _req(rec: Mapping[str, Any], name: str) -> Any:
    value = rec.get(name)
    if value is None:
        raise ValidationError("missing", field=name)
    return value


def _opt_ts(rec: Mapping[str, Any], name: str) -> datetime | None:
    value = rec.get(name)
    return None if value is None else to_datetime(value, name)


def _enum(value: Any) -> str:
    # fastavro decodes enums to str already; generated codecs may too.
    return str(value)


def score_row(rec: Mapping[str, Any]) -> Row:
    """A ``scores`` row from a ``scored_transaction`` record."""
    features = rec.get("features")
    return {
        "transaction_id": str(_req(rec, "transaction_id")),
        "card_id": rec.get("card_id"),
        "amount": rec.get("amount"),
        "fraud_score": float(_req(rec, "fraud_score")),
        "risk_level": _enum(_req(rec, "risk_level")),
        "action": _enum(_req(rec, "action")),
        "reasons": list(rec.get("reasons") or []),
        "model_version": str(_req(rec, "model_version")),
        "event_time": _opt_ts(rec, "event_time"),
        "scored_at": to_datetime(_req(rec, "scored_at"), "scored_at"),
        "features": dict(features) if features is not None else None,
        "merchant_id": rec.get("merchant_id"),
        "device_id": rec.get("device_id"),
        "ip_address": rec.get("ip_address"),
    }


def alert_row(rec: Mapping[str, Any]) -> Row:
    """An ``alerts`` row from an ``alert`` record."""
    return {
        "transaction_id": str(_req(rec, "transaction_id")),
        "card_id": rec.get("card_id"),
        "amount": rec.get("amount"),
        "fraud_score": float(_req(rec, "fraud_score")),
        "risk_level": _enum(_req(rec, "risk_level")),
        "action": _enum(_req(rec, "action")),
        "reasons": list(rec.get("reasons") or []),
        "model_version": str(_req(rec, "model_version")),
        "created_at": to_datetime(_req(rec, "created_at"), "created_at"),
    }


def feedback_row(rec: Mapping[str, Any]) -> Row:
    """A ``feedback`` row from a ``feedback`` record."""
    label = _enum(_req(rec, "label"))
    if label not in ("fraud", "legitimate"):
        raise ValidationError(f"unknown label {label!r}", field="label")
    return {
        "transaction_id": str(_req(rec, "transaction_id")),
        "label": label,
        "analyst": str(_req(rec, "analyst")),
        "at": to_datetime(_req(rec, "created_at"), "created_at"),
    }
