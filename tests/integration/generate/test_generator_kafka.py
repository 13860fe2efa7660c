"""Round trip through a real broker: what the generator produces is what consumers read."""

from __future__ import annotations

import time
from collections import defaultdict
from typing import Any

import pytest

from fraudstream.bus.base import Bus, Message
from fraudstream.events.registry import InProcessRegistry, subject_for
from fraudstream.events.serde import AvroSerde
from fraudstream.generate.runner import RunSpec, generate
from fraudstream.generate.transactions import GeneratorConfig, TransactionGenerator
from fraudstream.settings import KafkaSettings

pytestmark = pytest.mark.integration

CONFIG = GeneratorConfig(seed=21, n_customers=2000, n_merchants=800, fraud_rate=0.02)


def _consume_all(bus: Bus, topic: str, n: int, timeout_s: float = 60.0) -> list[Message]:
    consumer = bus.consumer(f"roundtrip-{topic}", read_committed=True)
    consumer.subscribe([topic])
    out: list[Message] = []
    deadline = time.monotonic() + timeout_s
    try:
        while len(out) < n and time.monotonic() < deadline:
            out.extend(consumer.poll_batch(5000, 0.5))
        out.extend(consumer.poll_batch(5000, 1.0))  # nothing more should come
    finally:
        consumer.close()
    return out


def _check_round_trip(messages: list[Message], expected: list[dict[str, Any]], topic: str) -> None:
    serde = AvroSerde("transaction", InProcessRegistry(), subject_for(topic))
    assert len(messages) == len(expected)
    by_id = {r["transaction_id"]: r for r in expected}
    per_key: dict[bytes, list[str]] = defaultdict(list)
    for m in messages:
        rec = serde.decode(m.value)
        assert rec == by_id.pop(rec["transaction_id"])  # equal field by field
        assert m.key == rec["card_id"].encode()
        per_key[m.key].append(rec["transaction_id"])
    assert not by_id
    # Each card's records arrive in the order they were generated.
    generated: dict[bytes, list[str]] = defaultdict(list)
    for r in expected:
        generated[r["card_id"].encode()].append(r["transaction_id"])
    assert per_key == generated


def test_generated_records_come_back_equal_field_by_field(
    kafka_settings: KafkaSettings, kafka_bus: Bus, unique_topics: Any
) -> None:
    topic = unique_topics.name("gen-roundtrip")
    n = 6000
    report = generate(
        RunSpec(
            config=CONFIG, count=n, output="kafka", kafka=kafka_settings, topic=topic, partitions=3
        )
    )
    assert report.records == n and report.failed == 0
    expected = [r for b in TransactionGenerator(CONFIG).batches(n, 2000) for r in b]
    assert any(r["is_fraud"] for r in expected)
    _check_round_trip(_consume_all(kafka_bus, topic, n), expected, topic)


def test_two_workers_produce_the_union_of_their_slices(
    kafka_settings: KafkaSettings, kafka_bus: Bus, unique_topics: Any
) -> None:
    topic = unique_topics.name("gen-workers")
    n = 4001
    report = generate(
        RunSpec(
            config=CONFIG,
            count=n,
            workers=2,
            output="kafka",
            kafka=kafka_settings,
            topic=topic,
            partitions=3,
        )
    )
    assert report.records == n and report.failed == 0
    expected = [
        r
        for w, share in ((0, 2001), (1, 2000))
        for b in TransactionGenerator(CONFIG, worker=w, workers=2).batches(share, 1000)
        for r in b
    ]
    _check_round_trip(_consume_all(kafka_bus, topic, n), expected, topic)
