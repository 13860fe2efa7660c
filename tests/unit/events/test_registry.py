"""Schema registries: the in-process one and the HTTP client against a real HTTP server.

The HTTP server here is a small real server (stdlib ``http.server`` on a free
port) that implements the two Confluent endpoints the client uses; it is not
a Confluent registry, so the tests check the client's protocol handling, and
the integration tier covers a real registry.
"""

from __future__ import annotations

import threading

import pytest

from fraudstream.errors import DecodeError, SchemaRegistryError
from fraudstream.events.contracts import schema_dict
from fraudstream.events.registry import (
    HttpSchemaRegistry,
    InProcessRegistry,
    open_registry,
    subject_for,
)
from fraudstream.events.serde import AvroSerde
from fraudstream.settings import KafkaSettings

from .fake_registry import FakeConfluent, server, url

__all__ = ["server"]  # the fixture


def test_subject_naming() -> None:
    assert subject_for("transactions") == "transactions-value"
    assert subject_for("transactions", key=True) == "transactions-key"


def test_in_process_ids_are_stable_and_thread_safe() -> None:
    reg = InProcessRegistry()
    schemas = [schema_dict(n) for n in ("transaction", "alert", "feedback")]
    results: list[list[int]] = []

    def work() -> None:
        results.append([reg.register(f"s{i}-value", s) for i, s in enumerate(schemas)])

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(r == results[0] for r in results)
    assert sorted(results[0]) == [1, 2, 3]
    assert reg.get_by_id(results[0][1])["name"] == "Alert"
    with pytest.raises(DecodeError, match="unknown schema id 42"):
        reg.get_by_id(42)


def test_http_register_fetch_and_cache(server: FakeConfluent) -> None:
    reg = HttpSchemaRegistry(url(server))
    schema = schema_dict("transaction")
    first = reg.register("transactions-value", schema)
    assert reg.register("transactions-value", schema) == first == 100
    assert server.requests == [("POST", "/subjects/transactions-value/versions")]
    # a fresh client learns the schema by id over GET, once
    other = HttpSchemaRegistry(url(server))
    assert other.get_by_id(first)["name"] == "Transaction"
    assert other.get_by_id(first)["name"] == "Transaction"
    assert server.requests[1:] == [("GET", "/schemas/ids/100")]
    with pytest.raises(DecodeError, match="unknown schema id 7"):
        other.get_by_id(7)
    reg.close()
    other.close()


def test_http_serde_round_trip_across_clients(server: FakeConfluent) -> None:
    producer_side = AvroSerde("feedback", HttpSchemaRegistry(url(server)), "feedback-value")
    rec = {
        "transaction_id": "t1",
        "label": "legitimate",
        "analyst": "ann",
        "comment": "ok",
        "created_at": 1,
    }
    data = producer_side.encode(rec)
    assert int.from_bytes(data[1:5], "big") == 100
    consumer_side = AvroSerde("feedback", HttpSchemaRegistry(url(server)), "feedback-value")
    assert consumer_side.decode(data) == rec


def test_http_errors_are_typed(server: FakeConfluent) -> None:
    server.fail_with = 500
    with pytest.raises(SchemaRegistryError, match="HTTP 500"):
        HttpSchemaRegistry(url(server)).register("x-value", schema_dict("alert"))
    host, port = server.server_address[:2]
    server.shutdown()
    server.server_close()
    with pytest.raises(SchemaRegistryError, match="unreachable"):
        HttpSchemaRegistry(f"http://{host!s}:{port}", timeout_s=2).register(
            "x-value", schema_dict("alert")
        )


def test_open_registry_picks_by_url() -> None:
    assert isinstance(open_registry(KafkaSettings()), InProcessRegistry)
    reg = open_registry(KafkaSettings(schema_registry_url="http://127.0.0.1:1"))
    assert isinstance(reg, HttpSchemaRegistry)
    assert reg.url == "http://127.0.0.1:1"


def test_credentials_in_the_url_become_basic_auth_and_stay_out_of_messages(
    server: FakeConfluent,
) -> None:
    host, port = server.server_address[:2]
    reg = HttpSchemaRegistry(f"http://api-key:s3cr%40t@{host!s}:{port}")
    assert "s3cr" not in reg.url and "api-key" not in reg.url
    reg.register("t-value", schema_dict("feedback"))
    assert server.auth_headers[-1] == "Basic YXBpLWtleTpzM2NyQHQ="  # api-key:s3cr@t
    server.fail_with = 500
    with pytest.raises(SchemaRegistryError) as info:
        reg.register("u-value", schema_dict("alert"))
    assert "s3cr" not in str(info.value)
