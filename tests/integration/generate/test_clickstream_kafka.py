"""The click-stream producer against a real Kafka broker."""

from __future__ import annotations

import itertools
import logging
import os
import subprocess
import sys
import time
from collections import defaultdict

import orjson
import pytest

from fraudstream.bus.base import Bus, Message
from fraudstream.events.registry import InProcessRegistry
from fraudstream.events.serde import AvroSerde
from fraudstream.generate.clickstream import LABEL_HEADER, ClickstreamConfig, ClickstreamGenerator
from fraudstream.generate.clickstream_run import RunOptions, run_worker
from fraudstream.settings import KafkaSettings

pytestmark = pytest.mark.integration

START = 1_767_225_600_000


def read_all(bootstrap: str, topic: str, partitions: int, n: int) -> list[Message]:
    """Read ``n`` records from the start of every partition (no group offsets involved)."""
    from confluent_kafka import OFFSET_BEGINNING, Consumer
    from confluent_kafka import TopicPartition as KafkaTP

    consumer = Consumer(
        {"bootstrap.servers": bootstrap, "group.id": "unused", "enable.auto.commit": False}
    )
    consumer.assign([KafkaTP(topic, p, OFFSET_BEGINNING) for p in range(partitions)])
    out: list[Message] = []
    deadline = time.monotonic() + 60.0
    while len(out) < n and time.monotonic() < deadline:
        for m in consumer.consume(num_messages=1000, timeout=0.5):
            assert m.error() is None, m.error()
            out.append(
                Message(
                    topic=m.topic() or "",
                    partition=m.partition() or 0,
                    offset=m.offset() or 0,
                    key=m.key(),
                    value=m.value(),
                    timestamp_ms=m.timestamp()[1],
                    headers=tuple((k, v or b"") for k, v in (m.headers() or [])),
                )
            )
    consumer.close()
    return out


def test_events_arrive_keyed_labelled_and_decodable(
    kafka_bus: Bus, kafka_settings: KafkaSettings
) -> None:
    topic = f"user-events-{time.time_ns()}"
    kafka_bus.create_topics({topic: 3})
    config = ClickstreamConfig(seed=21, bot_session_probability=0.2)
    opts = RunOptions(
        output="kafka",
        topic=topic,
        rate=0,
        max_messages=400,
        start_time_ms=START,
        kafka=kafka_settings,
        # a tiny local queue forces real BufferErrors: back-pressure must not drop anything
        producer_overrides={"queue.buffering.max.messages": 20},
    )
    registry = InProcessRegistry()
    stats = run_worker(0, config, opts, registry=registry)
    assert stats.produced == stats.delivered == 400 and stats.failed == 0
    assert stats.buffer_full > 0

    msgs = read_all(kafka_settings.bootstrap_servers, topic, 3, 400)
    assert len(msgs) == 400
    serde = AvroSerde("user_event", registry, f"{topic}-value")
    expected = {
        e.event["event_id"]: e for e in ClickstreamGenerator(config, start_time_ms=START).take(400)
    }
    per_user: dict[bytes, list[int]] = defaultdict(list)
    partitions_of_user: dict[bytes, set[int]] = defaultdict(set)
    for m in sorted(msgs, key=lambda m: (m.partition, m.offset)):
        ev = serde.decode(m.value)
        want = expected[ev["event_id"]]
        assert ev == want.event
        assert m.key == ev["user_id"].encode()
        label = orjson.loads(dict(m.headers)[LABEL_HEADER])
        assert label == {"is_fraud": want.is_fraud, "fraud_scenario": want.scenario}
        per_user[m.key].append(ev["event_timestamp"])
        partitions_of_user[m.key].add(m.partition)
    # one user, one partition, in order
    assert all(len(p) == 1 for p in partitions_of_user.values())
    assert all(a <= b for ts in per_user.values() for a, b in itertools.pairwise(ts))
    assert any(e.is_fraud for e in expected.values())


def test_undeliverable_messages_are_counted_and_logged(
    kafka_settings: KafkaSettings, caplog: pytest.LogCaptureFixture
) -> None:
    topic = f"missing-{time.time_ns()}"  # never created; the broker does not auto-create
    opts = RunOptions(
        output="kafka",
        topic=topic,
        rate=0,
        max_messages=5,
        start_time_ms=START,
        kafka=kafka_settings,
        producer_overrides={"message.timeout.ms": 3000},
    )
    with caplog.at_level(logging.ERROR, logger="fraudstream.generate.clickstream_run"):
        stats = run_worker(0, ClickstreamConfig(seed=2), opts, registry=InProcessRegistry())
    assert stats.failed == 5 and stats.delivered == 0
    lines = [r.getMessage() for r in caplog.records if "delivery failed" in r.getMessage()]
    assert len(lines) == 5
    assert all(f"topic={topic}" in line and "key=" in line and "reason=" in line for line in lines)


def test_cli_with_two_worker_processes(kafka_bus: Bus, kafka_settings: KafkaSettings) -> None:
    topic = f"user-events-cli-{time.time_ns()}"  # not created: the command creates it
    env = {**os.environ, "FRAUDSTREAM_TOPICS__USER_EVENTS_PARTITIONS": "2"}
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "fraudstream.cli",
            "generate",
            "clickstream",
            "--output",
            "kafka",
            "--workers",
            "2",
            "--max-messages",
            "150",
            "--rate",
            "0",
            "--topic",
            topic,
            "--bootstrap-servers",
            kafka_settings.bootstrap_servers,
            "--seed",
            "5",
            "--start-time",
            "2026-01-01T00:00:00Z",
        ],
        capture_output=True,
        text=True,
        timeout=180,
        env=env,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert kafka_bus.partitions_for(topic) == 2
    msgs = read_all(kafka_settings.bootstrap_servers, topic, 2, 300)
    assert len(msgs) == 300
    serde = AvroSerde("user_event", InProcessRegistry(), f"{topic}-value")
    ids = {serde.decode(m.value)["event_id"] for m in msgs}
    # each worker wrote its own reproducible stream
    for worker in (0, 1):
        gen = ClickstreamGenerator(
            ClickstreamConfig(seed=5, events_per_second=1000.0),
            worker_id=worker,
            start_time_ms=START,
        )
        assert {e.event["event_id"] for e in gen.take(150)} <= ids
