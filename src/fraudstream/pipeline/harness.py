"""Run the scoring pipeline on the in-process bus: for tests, ``fraudstream run`` and checks.

:func:`run_pipeline` writes events to a fresh :class:`MemoryBus` topic with
``partitions`` partitions, runs ``workers`` exactly-once workers until the input
is drained, and returns what a ``read_committed`` reader sees on the output
topics plus the state rebuilt from the changelog. Time is injected (``clock``),
so scoring timestamps and the "too far in the future" check are deterministic.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from fraudstream.bus.base import Message, TopicPartition
from fraudstream.bus.memory import MemoryBus
from fraudstream.detect.amount_rule import AmountRuleDetector
from fraudstream.detect.base import Detector
from fraudstream.pipeline.loop import ScoringWorker, WorkerConfig, WorkerStats
from fraudstream.pipeline.processor import Record
from fraudstream.pipeline.restore import restore_partition
from fraudstream.pipeline.state import changelog_topic
from fraudstream.pipeline.wiring import Codec, build_processor
from fraudstream.settings import TopicSettings


@dataclass
class PipelineRun:
    """What came out of :func:`run_pipeline` (committed records only)."""

    bus: MemoryBus
    scores: list[Record]
    alerts: list[Record]
    dead_letters: list[Record]
    state: dict[int, dict[str, bytes]]
    stats: list[WorkerStats] = field(default_factory=list)


def run_pipeline(
    events: Sequence[Record | bytes],
    *,
    partitions: int = 3,
    workers: int = 1,
    clock: Callable[[], float] | None = None,
    detector: Detector | None = None,
    codec: Codec = "json",
    max_batch_records: int = 100,
    commit_interval_ms: int = 1,
    group_id: str = "harness",
    key_field: str = "card_id",
) -> PipelineRun:
    """Score ``events`` (dicts are encoded with ``codec``; bytes are sent as they are).

    Example:
        >>> run = run_pipeline([{"transaction_id": "t1", "card_id": "c1", "amount": 950.0,
        ...     "event_time": 1_700_000_000_000, "account_id": "a", "customer_id": "u",
        ...     "merchant_id": "m",
        ...     "merchant_category": "retail", "merchant_country": "FR",
        ...     "customer_country": "FR", "currency": "EUR", "channel": "POS",
        ...     "tx_type": "PURCHASE"}], partitions=2, clock=lambda: 1.7e9)
        >>> [a["action"] for a in run.alerts], len(run.scores), run.dead_letters
        (['REVIEW'], 1, [])
    """
    topics = TopicSettings(
        transactions_partitions=partitions,
        scores_partitions=partitions,
        alerts_partitions=partitions,
    )
    bus = MemoryBus()
    changelog = changelog_topic(group_id)
    bus.create_topics({**topics.partition_counts(), changelog: partitions}, compacted=[changelog])
    det = detector or AmountRuleDetector()
    procs = [
        build_processor(topics, det, codec=codec, worker=f"w{i}", keep_outputs=False)
        for i in range(workers)
    ]
    _produce(bus, topics, procs[0], events, key_field, codec)
    clock = clock or time.time
    runners = [
        ScoringWorker(
            bus,
            procs[i],
            WorkerConfig(
                group_id=group_id,
                worker_id=f"w{i}",
                input_topics=[topics.transactions],
                changelog_topics={topics.transactions: changelog},
                max_batch_records=max_batch_records,
                commit_interval_ms=commit_interval_ms,
                poll_timeout_s=0.01,
            ),
            clock=clock,
        )
        for i in range(workers)
    ]
    stop = threading.Event()
    stats: list[WorkerStats] = [WorkerStats() for _ in runners]

    def work(i: int) -> None:
        stats[i] = runners[i].run(stop, idle_exit_s=0.3)

    threads = [threading.Thread(target=work, args=(i,), daemon=True) for i in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    stop.set()
    decode_out = _decoder(codec, topics)
    return PipelineRun(
        bus=bus,
        scores=[decode_out("scored", m) for m in read_topic(bus, topics.scores)],
        alerts=[decode_out("alert", m) for m in read_topic(bus, topics.alerts)],
        dead_letters=[decode_out("dead", m) for m in read_topic(bus, topics.dead_letter)],
        state={
            p: restore_partition(bus.consumer("harness-check"), TopicPartition(changelog, p))[
                0
            ].snapshot()
            for p in range(partitions)
        },
        stats=stats,
    )


def _produce(
    bus: MemoryBus,
    topics: TopicSettings,
    proc: Any,
    events: Sequence[Record | bytes],
    key_field: str,
    codec: Codec,
) -> None:
    from fraudstream.pipeline.routes import json_encode

    encode = json_encode
    if codec == "avro":
        from fraudstream.events.registry import InProcessRegistry
        from fraudstream.pipeline.wiring import register_all, serde_for

        reg = InProcessRegistry()
        register_all(reg, topics)
        encode = serde_for("transaction", topics.transactions, reg).encode_many
    producer = bus.producer()
    for i, ev in enumerate(events):
        key: bytes | None
        if isinstance(ev, bytes):
            key, value = f"raw-{i}".encode(), ev
        else:
            k = ev.get(key_field)
            key = str(k).encode() if k is not None else None
            value = encode([ev])[0]
        producer.produce(topics.transactions, value, key=key)


def read_topic(bus: MemoryBus, topic: str) -> list[Message]:
    """Every committed record of ``topic``, partition by partition."""
    consumer = bus.consumer(f"reader-{topic}", read_committed=True)
    parts = [TopicPartition(topic, p) for p in range(bus.partitions_for(topic))]
    consumer.assign(parts)
    out: list[Message] = []
    while True:
        batch = consumer.poll_batch(10_000, 0.0)
        if not batch:
            break
        out.extend(batch)
    consumer.close()
    return out


def _decoder(codec: Codec, topics: TopicSettings) -> Callable[[str, Message], Record]:
    import orjson

    if codec == "json":
        return lambda _kind, m: orjson.loads(m.value or b"null")
    from fraudstream.events.registry import InProcessRegistry
    from fraudstream.pipeline.wiring import register_all, serde_for

    reg = InProcessRegistry()
    register_all(reg, topics)
    serdes = {
        "scored": serde_for("scored_transaction", topics.scores, reg),
        "alert": serde_for("alert", topics.alerts, reg),
        "dead": serde_for("dead_letter", topics.dead_letter, reg),
    }
    return lambda kind, m: serdes[kind].decode(m.value)
