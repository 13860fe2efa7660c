"""JSON forms of the event records, for the HTTP edge and JSONL files (orjson).

In JSON, ``timestamp-millis`` fields are written as ISO-8601 UTC strings
(``2024-01-31T12:00:00.000Z``) or epoch milliseconds, ``bytes`` fields as
base64, and doubles must be finite (JSON has no NaN). Reading accepts either
timestamp form and always yields epoch-millisecond ints, the same as the Avro
decoder, then checks the record against its schema so a bad field is named.

Example:
    >>> rec = {"transaction_id": "t1", "label": "fraud", "analyst": "ann",
    ...        "comment": None, "created_at": 0}
    >>> to_json("feedback", rec)
    b'{"transaction_id":"t1","label":"fraud","analyst":"ann","comment":null,"created_at":"1970-01-01T00:00:00.000Z"}'
    >>> from_json("feedback", to_json("feedback", rec)) == rec
    True
"""

from __future__ import annotations

import base64
import binascii
import math
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import orjson

from fraudstream.errors import DecodeError, SchemaValidationError
from fraudstream.events.contracts import bytes_fields, double_fields, timestamp_fields
from fraudstream.events.serde import check_record

TimestampStyle = Literal["iso", "millis"]


def millis_to_iso(ms: int) -> str:
    """Epoch milliseconds as ISO-8601 UTC with millisecond precision and a ``Z``."""
    dt = datetime.fromtimestamp(ms / 1000, tz=UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


def parse_timestamp(value: Any, field: str) -> int:
    """Epoch milliseconds from an int, an aware datetime or an ISO-8601 string with an offset."""
    if isinstance(value, bool):
        raise SchemaValidationError("expected a timestamp, got a boolean", field=field)
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError as exc:
            raise SchemaValidationError(
                f"not an ISO-8601 timestamp: {value!r}", field=field
            ) from exc
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise SchemaValidationError("timestamp without a UTC offset", field=field)
        return round(value.timestamp() * 1000)
    raise SchemaValidationError(f"expected a timestamp, got {type(value).__name__}", field=field)


def to_jsonable(
    schema_name: str, record: dict[str, Any], *, timestamps: TimestampStyle = "iso"
) -> dict[str, Any]:
    """A copy of ``record`` with timestamps and bytes in their JSON forms.

    JSON has no NaN or infinity: a non-finite top-level double raises
    :class:`SchemaValidationError`; inside maps (feature snapshots) they become ``null``.
    """
    out = dict(record)
    for name in double_fields(schema_name):
        value = out.get(name)
        if isinstance(value, float) and not math.isfinite(value):
            raise SchemaValidationError(f"{value} cannot be written as JSON", field=name)
    for name in timestamp_fields(schema_name):
        value = out.get(name)
        if value is None:
            continue
        ms = parse_timestamp(value, name)
        out[name] = millis_to_iso(ms) if timestamps == "iso" else ms
    for name in bytes_fields(schema_name):
        value = out.get(name)
        if isinstance(value, bytes | bytearray):
            out[name] = base64.b64encode(value).decode("ascii")
    return out


def to_json(
    schema_name: str, record: dict[str, Any], *, timestamps: TimestampStyle = "iso"
) -> bytes:
    """``record`` as compact JSON bytes."""
    return orjson.dumps(to_jsonable(schema_name, record, timestamps=timestamps))


def from_jsonable(schema_name: str, obj: Any, *, check: bool = True) -> dict[str, Any]:
    """A record from its parsed JSON form: timestamps to millis, base64 to bytes, then checked."""
    if not isinstance(obj, dict):
        raise DecodeError(f"expected a JSON object for {schema_name}, got {type(obj).__name__}")
    rec = dict(obj)
    for name in timestamp_fields(schema_name):
        if rec.get(name) is not None:
            rec[name] = parse_timestamp(rec[name], name)
    for name in bytes_fields(schema_name):
        value = rec.get(name)
        if isinstance(value, str):
            try:
                rec[name] = base64.b64decode(value, validate=True)
            except (binascii.Error, ValueError) as exc:
                raise SchemaValidationError("not valid base64", field=name) from exc
    if check:
        check_record(schema_name, rec)
    return rec


def from_json(schema_name: str, data: bytes | str, *, check: bool = True) -> dict[str, Any]:
    """Parse JSON bytes into a record of ``schema_name``; ``DecodeError`` for malformed JSON."""
    try:
        obj = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise DecodeError(f"malformed JSON: {exc}") from exc
    return from_jsonable(schema_name, obj, check=check)


def write_jsonl(
    path: Path,
    schema_name: str,
    records: Iterable[dict[str, Any]],
    *,
    timestamps: TimestampStyle = "iso",
) -> int:
    """Write records as JSON lines to ``path``; return how many were written."""
    n = 0
    with path.open("wb") as fh:
        for rec in records:
            fh.write(to_json(schema_name, rec, timestamps=timestamps))
            fh.write(b"\n")
            n += 1
    return n


def read_jsonl(path: Path, schema_name: str, *, check: bool = True) -> Iterator[dict[str, Any]]:
    """Read records of ``schema_name`` from a JSON-lines file (blank lines skipped).

    Keys that are not fields of the schema (such as the click-stream's ground
    truth ``is_fraud``/``fraud_scenario``) are kept in the dicts.
    """
    with path.open("rb") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                yield from_json(schema_name, line, check=check)
            except (DecodeError, SchemaValidationError) as exc:
                raise type(exc)(f"{path}:{lineno}: {exc.message}", field=exc.field) from exc
