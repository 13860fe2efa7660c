"""Ingest: validation, idempotency, publication, card hygiene, auth and limits."""

from __future__ import annotations

import io
import logging
from typing import Any

import pytest
from fastavro import schemaless_reader

from fraudstream.bus.memory import MemoryBus
from fraudstream.events.contracts import load_reader_schema
from tests.unit.api.conftest import Api, headers, payment

PAN = "4242424242424242"


def published(bus: MemoryBus, topic: str = "transactions") -> list[dict[str, Any]]:
    schema = load_reader_schema(topic.rstrip("s") if topic == "transactions" else topic)
    c = bus.consumer(f"reader-{topic}")
    c.subscribe([topic])
    out = []
    for _ in range(3):
        for m in c.poll_batch(10_000, 0.2):
            assert m.value is not None and m.value[0] == 0  # Confluent wire format
            out.append(schemaless_reader(io.BytesIO(m.value[5:]), schema, None))
    return out


def test_a_payment_is_recorded_published_and_answered_202(api: Api) -> None:
    r = api.client.post("/api/v1/payments", json=payment(), headers=headers("ingest"))
    assert r.status_code == 202, r.text
    pid = r.json()["payment_id"]
    assert r.json() == {"payment_id": pid, "status": "RECEIVED", "replayed": False, "error": None}
    (rec,) = published(api.bus)
    assert rec["transaction_id"] == pid and rec["amount"] == 42.5 and rec["card_last4"] == "4242"
    assert PAN not in repr(rec) and len(rec["card_id"]) == 64
    got = api.client.get(f"/api/v1/payments/{pid}", headers=headers("analyst")).json()
    assert got["status"] == "RECEIVED" and got["amount"] == "42.50" and got["score"] is None


def test_the_pan_is_never_stored_logged_or_echoed(
    api: Api, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    api.client.post("/api/v1/payments", json=payment(), headers=headers("ingest"))
    bad = api.client.post(
        "/api/v1/payments", json=payment(card_number="4242424242424241"), headers=headers("ingest")
    )
    assert bad.status_code == 422 and "Luhn" in bad.text and "424242424242424" not in bad.text
    assert PAN not in caplog.text
    db = api.settings.database.url.removeprefix("sqlite:///")
    for path in (db, db + "-wal"):
        try:
            with open(path, "rb") as f:
                assert PAN.encode() not in f.read()
        except FileNotFoundError:
            pass


def test_same_idempotency_key_same_id_published_once(api: Api) -> None:
    h = headers("ingest", **{"Idempotency-Key": "order-77"})
    first = api.client.post("/api/v1/payments", json=payment(), headers=h)
    again = api.client.post("/api/v1/payments", json=payment(), headers=h)
    assert first.status_code == again.status_code == 202
    assert first.json()["payment_id"] == again.json()["payment_id"]
    assert again.json()["replayed"] is True
    assert len(published(api.bus)) == 1


def test_same_key_with_another_body_is_a_409(api: Api) -> None:
    h = headers("ingest", **{"Idempotency-Key": "order-78"})
    assert api.client.post("/api/v1/payments", json=payment(), headers=h).status_code == 202
    r = api.client.post("/api/v1/payments", json=payment(amount="43.00"), headers=h)
    assert r.status_code == 409 and r.json()["error"] == "conflict"
    assert "Idempotency-Key" in r.json()["detail"]
    assert len(published(api.bus)) == 1


def test_batch_ingest_with_per_item_keys(api: Api) -> None:
    items = [payment(amount=f"{i + 1}.00", idempotency_key=f"b-{i}") for i in range(5)]
    items.append(payment(amount="1.00", idempotency_key="b-0"))  # replay of item 0
    r = api.client.post(
        "/api/v1/payments/batch", json={"payments": items}, headers=headers("ingest")
    )
    assert r.status_code == 202, r.text
    got = r.json()["payments"]
    assert len(got) == 6 and got[5]["payment_id"] == got[0]["payment_id"] and got[5]["replayed"]
    assert len(published(api.bus)) == 5
    too_many = {"payments": [payment()] * 51}
    r = api.client.post("/api/v1/payments/batch", json=too_many, headers=headers("ingest"))
    assert r.status_code == 422 and "at most 50" in r.json()["detail"]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"amount": "0"}, "amount"),
        ({"amount": "-5.00"}, "amount"),
        ({"amount": "1.234"}, "amount"),
        ({"currency": "EUX"}, "currency"),
        ({"currency": "eur"}, "currency"),
        ({"merchant_country": "ZZ"}, "merchant_country"),
        ({"card_number": "12ab"}, "card_number"),
        ({"card_number": None}, "body"),  # neither card number nor token
        ({"card_token": "tok_12345"}, "body"),  # both
        ({"unexpected": 1}, "unexpected"),
        ({"event_time": "2999-01-01T00:00:00Z"}, "event_time"),
    ],
)
def test_invalid_payments_get_422_naming_the_field(
    api: Api, change: dict[str, object], field: str
) -> None:
    r = api.client.post("/api/v1/payments", json=payment(**change), headers=headers("ingest"))
    assert r.status_code == 422, r.text
    body = r.json()
    assert body["error"] in ("validation_failed",) and field in body["detail"]
    assert published(api.bus) == []


def test_auth_401_without_key_403_with_wrong_role(api: Api) -> None:
    r = api.client.post("/api/v1/payments", json=payment())
    assert r.status_code == 401 and r.json()["error"] == "unauthenticated"
    assert "X-API-Key" in r.json()["detail"]
    r = api.client.post("/api/v1/payments", json=payment(), headers={"X-API-Key": "nope"})
    assert r.status_code == 401 and r.json()["detail"] == "unknown API key"
    r = api.client.post("/api/v1/payments", json=payment(), headers=headers("analyst"))
    assert r.status_code == 403 and "ingest" in r.json()["detail"]
    r = api.client.post("/api/v1/payments", json=payment(), headers=headers("admin"))
    assert r.status_code == 202


def test_body_size_limit_is_a_413_with_a_reason(api: Api) -> None:
    big = payment(merchant_id="m" * 70_000)
    r = api.client.post("/api/v1/payments", json=big, headers=headers("ingest"))
    assert r.status_code == 413 and r.json()["error"] == "payload_too_large"


def test_unknown_payment_is_404_and_malformed_json_is_422(api: Api) -> None:
    r = api.client.get("/api/v1/payments/pay_nope", headers=headers("analyst"))
    assert r.status_code == 404 and "pay_nope" in r.json()["detail"]
    r = api.client.post(
        "/api/v1/payments",
        content=b"{not json",
        headers=headers("ingest", **{"Content-Type": "application/json"}),
    )
    assert r.status_code == 422 and r.json()["error"] == "validation_failed"
