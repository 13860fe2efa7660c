"""KafkaProducer reports failed deliveries without a per-record Python callback.

The producer asks librdkafka for delivery reports on failures only (the API's
ingest path no longer pays a callback and a poll per record); these tests show
that a record the broker refuses still surfaces as a ``BusError`` on ``flush``
and that delivered records raise nothing.
"""

from __future__ import annotations

import os

import pytest
from confluent_kafka.admin import NewTopic

from fraudstream.bus.base import Bus
from fraudstream.bus.kafka import KafkaBus
from fraudstream.errors import BusError
from tests.conftest import TopicFactory
from tests.integration.bus.helpers import consume

pytestmark = pytest.mark.integration


def _small_topic(bus: KafkaBus, name: str) -> None:
    """A topic whose broker refuses record batches over 1,000 bytes."""
    futures = bus.admin.create_topics(
        [
            NewTopic(
                name, num_partitions=1, replication_factor=1, config={"max.message.bytes": "1000"}
            )
        ]
    )
    futures[name].result(timeout=30)


def test_a_record_the_broker_refuses_fails_the_next_flush(
    kafka_bus: Bus, unique_topics: TopicFactory
) -> None:
    assert isinstance(kafka_bus, KafkaBus)
    topic = unique_topics.name("small")
    _small_topic(kafka_bus, topic)
    p = kafka_bus.producer()
    # Incompressible, so lz4 cannot squeeze it under the topic's limit.
    p.produce(topic, os.urandom(10_000), key=b"k")
    with pytest.raises(BusError, match="not delivered"):
        p.flush(30.0)
    # The failure was reported once; what follows is delivered and raises nothing.
    p.produce(topic, b"small", key=b"k")
    assert p.flush(30.0) == 0
    p.close()


def test_many_delivered_records_flush_clean_and_arrive(
    kafka_bus: Bus, unique_topics: TopicFactory
) -> None:
    topic = unique_topics.name("many")
    kafka_bus.create_topics({topic: 2})
    p = kafka_bus.producer()
    n = 2_000  # more than the producer's poll interval, so periodic polls run too
    for i in range(n):
        p.produce(topic, str(i).encode(), key=f"card-{i % 7}".encode())
    assert p.flush(30.0) == 0
    c = kafka_bus.consumer(unique_topics.name("g"))
    c.subscribe([topic])
    got = consume(c, n)
    c.close()
    assert sorted(int(m.value or b"-1") for m in got) == list(range(n))
