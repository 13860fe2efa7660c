"""AvroSerde: Confluent wire format, round trips, fuzzing, field-naming errors."""

from __future__ import annotations

import io
import struct
from datetime import UTC, datetime
from typing import Any

import pytest
from fastavro import schemaless_writer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fraudstream.errors import DecodeError, RecordError, SchemaValidationError
from fraudstream.events.contracts import SCHEMA_NAMES, load_schema, schema_dict
from fraudstream.events.registry import InProcessRegistry
from fraudstream.events.serde import AvroSerde, check_record, codec_for

from .strategies import records

FAST = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def tx(**over: Any) -> dict[str, Any]:
    rec = {
        "transaction_id": "t-1",
        "event_time": 1_700_000_000_000,
        "card_id": "card-1",
        "account_id": "acc-1",
        "customer_id": "cus-1",
        "merchant_id": "m-1",
        "merchant_category": "grocery",
        "merchant_country": "FR",
        "customer_country": "FR",
        "amount": 12.34,
        "currency": "EUR",
        "channel": "POS",
        "tx_type": "PURCHASE",
        "device_id": "d-1",
        "ip_address": "10.0.0.1",
        "counterparty_account_id": None,
        "card_last4": "4242",
        "is_fraud": False,
        "fraud_scenario": None,
    }
    rec.update(over)
    return rec


@pytest.fixture
def serde() -> AvroSerde:
    return AvroSerde("transaction", InProcessRegistry(), "transactions-value")


def test_every_packaged_schema_gets_a_generated_codec() -> None:
    for name in SCHEMA_NAMES:
        assert codec_for(name) is not None, name


def test_wire_format_header(serde: AvroSerde) -> None:
    data = serde.encode(tx())
    assert data[0] == 0
    assert struct.unpack(">I", data[1:5])[0] == serde.schema_id == 1


@pytest.mark.parametrize("name", SCHEMA_NAMES)
def test_round_trip_and_bytes_identical_to_fastavro(name: str) -> None:
    serde = AvroSerde(name, InProcessRegistry(), f"{name}-value")

    @FAST
    @given(records(name))
    def check(rec: dict[str, Any]) -> None:
        data = serde.encode(rec)
        expected = io.BytesIO()
        schemaless_writer(expected, load_schema(name), rec)
        assert data[5:] == expected.getvalue()
        assert serde.decode(data) == rec

    check()


def test_datetime_timestamps_encode_as_millis(serde: AvroSerde) -> None:
    when = datetime(2024, 3, 1, 12, 0, 0, 123000, tzinfo=UTC)
    out = serde.decode(serde.encode(tx(event_time=when)))
    assert out["event_time"] == 1_709_294_400_123


def test_missing_optional_fields_take_their_default(serde: AvroSerde) -> None:
    rec = tx()
    for name in ("device_id", "ip_address", "card_last4", "is_fraud"):
        del rec[name]
    out = serde.decode(serde.encode(rec))
    assert out["device_id"] is None and out["is_fraud"] is None


@pytest.mark.parametrize(
    ("override", "field"),
    [
        ({"amount": "12.34"}, "amount"),
        ({"card_id": 5}, "card_id"),
        ({"card_id": None}, "card_id"),
        ({"event_time": 1.5}, "event_time"),
        ({"event_time": datetime(2024, 1, 1)}, "event_time"),  # naive
        ({"event_time": 2**64}, "event_time"),
        ({"is_fraud": "yes"}, "is_fraud"),
        ({"device_id": b"bytes"}, "device_id"),
    ],
)
def test_invalid_records_name_the_field(
    serde: AvroSerde, override: dict[str, Any], field: str
) -> None:
    with pytest.raises(SchemaValidationError) as info:
        serde.encode(tx(**override))
    assert info.value.field == field
    assert field in str(info.value)


def test_missing_required_field_is_named(serde: AvroSerde) -> None:
    rec = tx()
    del rec["merchant_id"]
    with pytest.raises(SchemaValidationError) as info:
        serde.encode(rec)
    assert info.value.field == "merchant_id"


def test_enum_and_array_errors_name_the_field() -> None:
    with pytest.raises(SchemaValidationError) as info:
        check_record(
            "alert",
            {
                "transaction_id": "t",
                "card_id": "c",
                "amount": 1.0,
                "currency": "EUR",
                "merchant_id": "m",
                "fraud_score": 0.9,
                "risk_level": "HIGH",
                "action": "ALLOW",
                "reasons": [],
                "model_version": "v1",
                "created_at": 0,
            },
        )
    assert info.value.field == "action"
    with pytest.raises(SchemaValidationError) as info:
        check_record(
            "scored_user_event",
            {"event_id": "e", "reasons": "x", "status": "SUCCESS"},
        )
    assert info.value.field is not None


def test_not_a_dict_is_a_schema_error(serde: AvroSerde) -> None:
    with pytest.raises(SchemaValidationError):
        serde.encode(["not", "a", "record"])  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("data", "match"),
    [
        (b"", "shorter"),
        (b"\x00\x00\x00", "shorter"),
        (b"\x01\x00\x00\x00\x01abc", "magic byte"),
        (b"\x00\x00\x00\x00\x63abc", "unknown schema id 99"),
        (None, "tombstone"),
    ],
)
def test_decode_errors(serde: AvroSerde, data: bytes | None, match: str) -> None:
    with pytest.raises(DecodeError, match=match):
        serde.decode(data)


def test_truncated_and_trailing_bytes_are_rejected(serde: AvroSerde) -> None:
    data = serde.encode(tx())
    for cut in range(5, len(data)):
        with pytest.raises(DecodeError):
            serde.decode(data[:cut])
    with pytest.raises(DecodeError, match="trailing"):
        serde.decode(data + b"\x00")


@FAST
@given(st.binary(max_size=200))
def test_fuzzed_bytes_only_raise_decode_errors(data: bytes) -> None:
    serde = AvroSerde("transaction", InProcessRegistry(), "transactions-value")
    for candidate in (data, b"\x00\x00\x00\x00\x01" + data):
        try:
            out = serde.decode(candidate)
        except (DecodeError, SchemaValidationError):
            continue
        assert isinstance(out, dict)


@FAST
@given(records("scored_transaction"), st.data())
def test_mutated_valid_bytes_only_raise_decode_errors(rec: dict[str, Any], data: Any) -> None:
    serde = AvroSerde("scored_transaction", InProcessRegistry(), "fraud-scores-value")
    raw = bytearray(serde.encode(rec))
    i = data.draw(st.integers(5, len(raw) - 1))
    raw[i] = data.draw(st.integers(0, 255))
    try:
        out = serde.decode(bytes(raw))
    except (DecodeError, SchemaValidationError):
        return
    assert isinstance(out, dict)


def test_reads_older_writer_schema_through_the_registry() -> None:
    registry = InProcessRegistry()
    old = schema_dict("feedback")
    old["fields"] = [f for f in old["fields"] if f["name"] != "comment"]
    old_id = registry.register("feedback-value", old)
    body = io.BytesIO()
    schemaless_writer(
        body, old, {"transaction_id": "t9", "label": "fraud", "analyst": "a", "created_at": 7}
    )
    serde = AvroSerde("feedback", registry, "feedback-value")
    assert serde.schema_id != old_id
    data = b"\x00" + old_id.to_bytes(4, "big") + body.getvalue()
    assert serde.decode(data) == {
        "transaction_id": "t9",
        "label": "fraud",
        "analyst": "a",
        "comment": None,
        "created_at": 7,
    }


def test_unreadable_writer_schema_is_a_decode_error() -> None:
    registry = InProcessRegistry()
    other = AvroSerde("feedback", registry, "feedback-value")
    serde = AvroSerde("transaction", registry, "transactions-value")
    data = other.encode({"transaction_id": "t", "label": "fraud", "analyst": "a", "created_at": 1})
    with pytest.raises(DecodeError, match="not a readable version"):
        serde.decode(data)


def test_batch_forms(serde: AvroSerde) -> None:
    datas: list[bytes | None] = list(serde.encode_many([tx(), tx(transaction_id="t-2")]))
    datas.insert(1, b"garbage")
    datas.append(None)
    recs, errs = serde.decode_many(datas)
    assert [r["transaction_id"] if r else None for r in recs] == ["t-1", None, "t-2", None]
    assert [type(e).__name__ if e else None for e in errs] == [
        None,
        "DecodeError",
        None,
        "DecodeError",
    ]
    assert all(isinstance(e, RecordError) for e in errs if e)
    with pytest.raises(SchemaValidationError, match="record 1") as info:
        serde.encode_many([tx(), tx(amount="x")])
    assert info.value.field == "amount"


def test_overlong_varints_are_decode_errors() -> None:
    serde = AvroSerde("user_event", InProcessRegistry(), "user-events-value")
    good = serde.encode(
        {
            "event_id": "e",
            "user_id": "u",
            "session_id": "s",
            "event_type": "SEARCH",
            "event_timestamp": 5,
            "request_latency_ms": 60,
            "status": "SUCCESS",
            "error_code": None,
            "product_id": None,
        }
    )
    # event_timestamp (after three 1-char strings and the enum) as an 11-byte varint
    head = good[: 5 + 2 + 2 + 2 + 1]
    tail = good[5 + 2 + 2 + 2 + 1 + 1 :]
    with pytest.raises(DecodeError, match="varint"):
        serde.decode(head + b"\xff" * 10 + b"\x01" + tail)
    with pytest.raises(DecodeError, match="varint"):
        serde.decode(head + b"\xff" * 9 + b"\x7f" + tail)
    assert serde.decode(head + b"\x0a" + tail)["event_timestamp"] == 5
