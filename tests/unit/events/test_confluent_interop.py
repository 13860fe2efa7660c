"""Wire-format interop with Confluent's own Python serializer (confluent-kafka).

Confluent's ``AvroSerializer``/``AvroDeserializer`` and our ``AvroSerde`` share one
registry (a small real HTTP server speaking the Confluent REST endpoints): bytes
written by either side must read back identically on the other.
"""

from __future__ import annotations

import warnings
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest

from fraudstream.events.contracts import schema_text
from fraudstream.events.registry import HttpSchemaRegistry
from fraudstream.events.serde import AvroSerde

from .fake_registry import FakeConfluent, server, url

__all__ = ["server"]

with warnings.catch_warnings():
    # authlib (a dependency of the client) installs an "always" filter for its own
    # deprecation warnings at import, then warns about its httpx module: import it
    # first, then silence it for the import below (the filters are restored after)
    import authlib.deprecate  # noqa: F401

    warnings.simplefilter("ignore")
    from confluent_kafka.schema_registry import SchemaRegistryClient
    from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer
    from confluent_kafka.serialization import MessageField, SerializationContext

TOPIC = "transactions"


def tx() -> dict[str, Any]:
    return {
        "transaction_id": "t-42",
        "event_time": 1_767_225_600_123,
        "card_id": "card-9",
        "account_id": "acc-9",
        "customer_id": "cus-9",
        "merchant_id": "m-9",
        "merchant_category": "electronics",
        "merchant_country": "DE",
        "customer_country": "FR",
        "amount": 1299.99,
        "currency": "EUR",
        "channel": "ECOM",
        "tx_type": "PURCHASE",
        "device_id": None,
        "ip_address": "192.0.2.1",
        "counterparty_account_id": None,
        "card_last4": "0005",
        "is_fraud": True,
        "fraud_scenario": "stolen_card_spree",
    }


@pytest.fixture
def confluent(server: FakeConfluent) -> SchemaRegistryClient:
    return SchemaRegistryClient({"url": url(server)})


def ctx() -> SerializationContext:
    return SerializationContext(TOPIC, MessageField.VALUE)


def test_confluent_serializer_bytes_decode_with_our_serde(
    server: FakeConfluent, confluent: SchemaRegistryClient
) -> None:
    serializer = AvroSerializer(confluent, schema_text("transaction"))
    data = serializer(tx(), ctx())
    ours = AvroSerde("transaction", HttpSchemaRegistry(url(server)), f"{TOPIC}-value")
    assert data[:5] == b"\x00" + ours.schema_id.to_bytes(4, "big")
    assert ours.decode(data) == tx()


def test_our_bytes_decode_with_confluent_deserializer(
    server: FakeConfluent, confluent: SchemaRegistryClient
) -> None:
    ours = AvroSerde("transaction", HttpSchemaRegistry(url(server)), f"{TOPIC}-value")
    data = ours.encode(tx())
    decoded = AvroDeserializer(confluent)(data, ctx())
    assert isinstance(decoded, dict)
    # Confluent's deserializer turns timestamp-millis into an aware datetime
    assert decoded["event_time"] == datetime(2026, 1, 1, 0, 0, 0, 123000, tzinfo=UTC)
    assert {**decoded, "event_time": tx()["event_time"]} == tx()
    registered = orjson.loads(next(iter(server.schemas.values())))
    assert registered["name"] == "Transaction"
