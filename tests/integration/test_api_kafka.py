"""The API against a real Kafka broker and a real PostgreSQL."""

from __future__ import annotations

import io
import warnings
from collections.abc import Callable
from pathlib import Path

import pytest
from fastavro import schemaless_reader

from fraudstream.api.app import create_app
from fraudstream.bus.kafka import KafkaBus
from fraudstream.events.contracts import load_reader_schema
from fraudstream.settings import KafkaSettings, TopicSettings
from tests.integration._db import fresh_pg_database
from tests.unit.api.conftest import AmountDetector, headers, make_settings, payment

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

pytestmark = pytest.mark.integration


def test_payments_reach_kafka_once_per_idempotency_key(
    kafka_settings: KafkaSettings,
    unique_topics: Callable[..., TopicSettings],
    pg_url: str,
    tmp_path: Path,
) -> None:
    topics = unique_topics(partitions={"transactions": 3})
    for db_url in fresh_pg_database(pg_url):
        settings = make_settings(tmp_path).model_copy(
            update={"bus": "kafka", "kafka": kafka_settings, "topics": topics}
        )
        settings.database.url = db_url
        bus = KafkaBus(kafka_settings)
        with TestClient(create_app(settings, bus=bus, detector=AmountDetector())) as client:
            assert client.get("/ready").status_code == 200
            ids = set()
            for i in range(5):
                h = headers("ingest", **{"Idempotency-Key": f"k-{i}"})
                for _ in range(2):  # every request sent twice: a client retry
                    r = client.post(
                        "/api/v1/payments", json=payment(amount=f"{i + 1}.00"), headers=h
                    )
                    assert r.status_code == 202, r.text
                    ids.add(r.json()["payment_id"])
            assert len(ids) == 5
        consumer = bus.consumer("api-test-reader")
        consumer.subscribe([topics.transactions])
        schema = load_reader_schema("transaction")
        got: list[dict[str, object]] = []
        for _ in range(40):
            for m in consumer.poll_batch(100, 0.5):
                assert m.value is not None
                got.append(schemaless_reader(io.BytesIO(m.value[5:]), schema, None))
            if len(got) >= 5:
                break
        for m in consumer.poll_batch(100, 2.0):  # a duplicate would show up here
            assert m.value is not None
            got.append(schemaless_reader(io.BytesIO(m.value[5:]), schema, None))
        consumer.close()
        assert sorted(r["transaction_id"] for r in got) == sorted(ids)
        assert all(r["card_last4"] == "4242" for r in got)
