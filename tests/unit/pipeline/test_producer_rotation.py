"""A worker alternates its transactional producers between transactions."""

from __future__ import annotations

import orjson

from fraudstream.bus.memory import MemoryBus
from fraudstream.detect.amount_rule import AmountRuleDetector
from fraudstream.pipeline.loop import ScoringWorker, WorkerConfig
from fraudstream.pipeline.state import changelog_topic
from fraudstream.pipeline.wiring import build_processor
from fraudstream.settings import TopicSettings

from .conftest import tx


def _worker(producers: int, n: int = 6) -> tuple[ScoringWorker, MemoryBus, TopicSettings]:
    topics = TopicSettings(transactions_partitions=1, scores_partitions=1)
    bus = MemoryBus()
    bus.create_topics({**topics.partition_counts(), changelog_topic("g"): 1})
    p = bus.producer()
    for i in range(n):
        e = tx(i)
        p.produce(topics.transactions, orjson.dumps(e), key=e["card_id"].encode())
    cfg = WorkerConfig(
        group_id="g",
        worker_id="w0",
        input_topics=[topics.transactions],
        changelog_topics={topics.transactions: changelog_topic("g")},
        max_batch_records=100,
        producers=producers,
    )
    proc = build_processor(topics, AmountRuleDetector(), codec="json", worker="w0")
    return ScoringWorker(bus, proc, cfg), bus, topics


def test_transactional_ids_keep_the_single_producer_id_first() -> None:
    cfg = WorkerConfig("grp", "w3", ["t"], {"t": "cl"}, producers=3)
    assert cfg.transactional_ids == ["grp-w3", "grp-w3-t1", "grp-w3-t2"]
    one = WorkerConfig("grp", "w3", ["t"], {"t": "cl"}, producers=1)
    assert one.transactional_ids == ["grp-w3"] == [one.transactional_id]


def test_consecutive_transactions_use_the_producers_in_turn() -> None:
    w, bus, topics = _worker(producers=2)
    w.consumer.subscribe(w.cfg.input_topics, on_assign=w._on_assign)
    used = []
    for _ in range(3):
        w._process(w.consumer.poll_batch(2, 0.0))
        used.append(w.producer)
        w._commit()
    assert used[0] is w.producers[0] and used[1] is w.producers[1] and used[2] is used[0]
    assert w.stats.commits == 3
    # Every input scored exactly once, and the committed offset covers all of it.
    reader = bus.consumer("check", read_committed=True)
    reader.subscribe([topics.scores])
    scored = reader.poll_batch(100, 0.0)
    assert len(scored) == 6
    assert len({m.value for m in scored}) == 6
    part = w.consumer.assignment()[0]
    assert w.consumer.committed([part])[part] == 6


def test_an_abort_also_moves_to_the_next_producer() -> None:
    w, _, _ = _worker(producers=2)
    w.consumer.subscribe(w.cfg.input_topics, on_assign=w._on_assign)
    w._process(w.consumer.poll_batch(2, 0.0))
    first = w.producer
    w._abort_and_rewind("test")
    assert w.producer is not first and w.stats.aborts == 1
    assert w.consumer.poll_batch(10, 0.0)[0].offset == 0  # rewound to the committed offset
