"""JSON forms of records: timestamps as ISO-8601 UTC or millis, bytes as base64."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings

from fraudstream.errors import DecodeError, SchemaValidationError
from fraudstream.events.contracts import SCHEMA_NAMES
from fraudstream.events.jsonio import (
    from_json,
    millis_to_iso,
    parse_timestamp,
    read_jsonl,
    to_json,
    write_jsonl,
)

from .strategies import records


@pytest.mark.parametrize("name", SCHEMA_NAMES)
@pytest.mark.parametrize("style", ["iso", "millis"])
def test_json_round_trip(name: str, style: Any) -> None:
    @settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(records(name, finite=True))
    def check(rec: dict[str, Any]) -> None:
        assert from_json(name, to_json(name, rec, timestamps=style)) == rec

    check()


def test_timestamp_forms() -> None:
    assert millis_to_iso(1_709_294_400_123) == "2024-03-01T12:00:00.123Z"
    assert parse_timestamp("2024-03-01T12:00:00.123Z", "t") == 1_709_294_400_123
    assert parse_timestamp("2024-03-01T13:00:00.123+01:00", "t") == 1_709_294_400_123
    assert parse_timestamp(5, "t") == 5
    with pytest.raises(SchemaValidationError, match="offset"):
        parse_timestamp("2024-03-01T12:00:00", "t")
    with pytest.raises(SchemaValidationError) as info:
        parse_timestamp("yesterday", "event_time")
    assert info.value.field == "event_time"


def test_dead_letter_bytes_are_base64() -> None:
    rec = {
        "reason": "undecodable",
        "error_class": "DecodeError",
        "error_message": "bad",
        "field": None,
        "source_topic": "transactions",
        "source_partition": 3,
        "source_offset": 42,
        "original_key": b"\x00\xff",
        "original_value": b"\x01garbage",
        "failed_at": 0,
        "worker": "w0",
    }
    obj = orjson.loads(to_json("dead_letter", rec))
    assert obj["original_value"] == "AWdhcmJhZ2U="
    assert from_json("dead_letter", orjson.dumps(obj)) == rec


def test_non_finite_doubles_are_refused_in_json() -> None:
    rec = {"transaction_id": "t", "card_id": "c", "amount": float("inf")}
    with pytest.raises(SchemaValidationError) as info:
        to_json("alert", rec)
    assert info.value.field == "amount"


def test_bad_json_is_typed() -> None:
    with pytest.raises(DecodeError):
        from_json("feedback", b"{not json")
    with pytest.raises(DecodeError):
        from_json("feedback", b"[1, 2]")
    with pytest.raises(SchemaValidationError) as info:
        from_json("feedback", b'{"transaction_id": "t", "label": "fraud", "analyst": 3}')
    assert info.value.field == "analyst"


def test_jsonl_files(tmp_path: Path) -> None:
    path = tmp_path / "fb.jsonl"
    recs = [
        {
            "transaction_id": f"t{i}",
            "label": "fraud",
            "analyst": "a",
            "comment": None,
            "created_at": i,
        }
        for i in range(3)
    ]
    assert write_jsonl(path, "feedback", recs) == 3
    assert list(read_jsonl(path, "feedback")) == recs
    path.write_bytes(path.read_bytes() + b'{"transaction_id": 1}\n')
    with pytest.raises(SchemaValidationError, match=r"fb\.jsonl:4"):
        list(read_jsonl(path, "feedback"))
