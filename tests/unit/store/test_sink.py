"""The sink on the memory bus and SQLite: exactly once, retries, bad records."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from fraudstream.bench.sink import ScoredFeed, count_run
from fraudstream.bus.base import Message
from fraudstream.bus.memory import MemoryBus
from fraudstream.errors import FraudstreamError, StoreError
from fraudstream.events.registry import InProcessRegistry
from fraudstream.settings import Settings
from fraudstream.store import sink as sink_module
from fraudstream.store.commands import build_sink
from fraudstream.store.migrate import upgrade
from fraudstream.store.repository import count_rows


def _setup(tmp_path: Path) -> tuple[Settings, MemoryBus]:
    settings = Settings(
        bus="memory",
        database={
            "url": f"sqlite:///{tmp_path / 's.db'}",
            "sink_batch_records": 300,
            "sink_poll_timeout_s": 0.05,
        },
    )
    bus = MemoryBus()
    bus.create_topics(settings.topics.partition_counts())
    return settings, bus


def test_records_land_once_even_when_replayed(tmp_path: Path) -> None:
    settings, bus = _setup(tmp_path)
    feed = ScoredFeed(bus, settings.topics, InProcessRegistry())
    feed.produce("r1", 0, 1000)
    feed.produce("r1", 0, 200)  # an upstream replay of the first 200
    sink, _ = build_sink(settings, bus)
    upgrade(sink.engine)
    stats = sink.run(threading.Event(), idle_exit_s=0.3)
    assert count_run(sink.engine, "r1") == (1000, 50)
    assert count_rows(sink.engine)["cases"] == 50
    assert stats.records == 1200 + 60
    # Offsets were committed: a new sink of the same group reads nothing again.
    sink.consumer.close()
    again, _ = build_sink(settings, bus)
    assert again.run(threading.Event(), idle_exit_s=0.3).records == 0


def test_database_failures_are_retried_and_offsets_wait(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings, bus = _setup(tmp_path)
    ScoredFeed(bus, settings.topics, InProcessRegistry()).produce("r2", 0, 100)
    sink, _ = build_sink(settings, bus)
    upgrade(sink.engine)
    real_write = sink_module.write_batch
    calls: list[int] = []
    committed_during_failure: list[dict[object, int]] = []

    def flaky(engine: object, batch: object) -> None:
        calls.append(1)
        if len(calls) <= 3:
            tps = sink.consumer.assignment()
            committed_during_failure.append(sink.consumer.committed(tps))
            raise StoreError("database down")
        real_write(engine, batch)  # type: ignore[arg-type]

    sleeps: list[float] = []
    monkeypatch.setattr(sink_module, "write_batch", flaky)
    sink.sleep = sleeps.append
    sink.backoff_initial_s, sink.backoff_max_s = 0.1, 0.3
    sink.step()
    assert sleeps == [0.1, 0.2, 0.3]  # exponential, capped
    assert all(v == -1 for c in committed_during_failure for v in c.values())
    assert sink.stats.db_retries == 3
    assert count_run(sink.engine, "r2") == (100, 5)
    committed = sink.consumer.committed(sink.consumer.assignment()).values()
    assert sum(v for v in committed if v > 0) == 105  # 100 scores + 5 alerts, after the write


def test_undecodable_records_are_dead_lettered_not_dropped_silently(tmp_path: Path) -> None:
    settings, bus = _setup(tmp_path)
    feed = ScoredFeed(bus, settings.topics, InProcessRegistry())
    feed.produce("r3", 0, 10)
    bus.producer().produce(settings.topics.scores, b"\x00\x00\x00\x00\x02garbage", key=b"k")
    bad: list[tuple[Message, FraudstreamError]] = []
    sink, _ = build_sink(settings, bus)
    sink.dead_letter = lambda m, e: bad.append((m, e))
    upgrade(sink.engine)
    sink.run(threading.Event(), idle_exit_s=0.3)
    assert count_run(sink.engine, "r3") == (10, 1)
    assert len(bad) == 1 and bad[0][0].topic == settings.topics.scores
    assert "malformed" in bad[0][1].message


def test_build_sink_dead_letters_to_the_dead_letter_topic(tmp_path: Path) -> None:

    settings, bus = _setup(tmp_path)
    ScoredFeed(bus, settings.topics, InProcessRegistry()).produce("r4", 0, 3)
    bus.producer().produce(settings.topics.alerts, b"not avro", key=b"k9")
    sink, _ = build_sink(settings, bus)
    upgrade(sink.engine)
    sink.run(threading.Event(), idle_exit_s=0.3)
    assert count_run(sink.engine, "r4") == (3, 1)
    c = bus.consumer("dlq-reader")
    c.subscribe([settings.topics.dead_letter])
    (msg,) = c.poll_batch(10, 1.0)
    assert msg.key == b"k9" and b"not avro" in (msg.value or b"")


def test_scores_keep_their_links_and_the_sink_exports_its_consumer_lag(tmp_path: Path) -> None:
    from prometheus_client import REGISTRY
    from sqlalchemy import text

    settings, bus = _setup(tmp_path)  # sink batches of 300 records
    ScoredFeed(bus, settings.topics, InProcessRegistry()).produce("r5", 0, 1000)
    sink, _ = build_sink(settings, bus)
    upgrade(sink.engine)
    sink.lag_interval_s = 0.0

    def lag() -> float:
        return sum(
            REGISTRY.get_sample_value(
                "fraudstream_pipeline_consumer_lag",
                {"worker": "sink", "topic": settings.topics.scores, "partition": str(p)},
            )
            or 0.0
            for p in range(settings.topics.partition_counts()[settings.topics.scores])
        )

    sink.step()  # the first poll joins the group; lag is exported from the next step on
    sink.step()
    first = lag()
    assert 0 < first < 1000  # some scores stored, the rest still waiting in the topic
    sink.run(threading.Event(), idle_exit_s=0.3)
    sink.export_lag()
    assert lag() == 0.0
    with sink.engine.connect() as conn:
        row = conn.execute(
            text("SELECT merchant_id FROM scores WHERE transaction_id LIKE 'r5-%' LIMIT 1")
        ).one()
    assert row[0] is not None and row[0].startswith("m-")
