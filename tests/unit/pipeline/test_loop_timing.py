"""When the loop polls and commits: no record idles in a poll past its commit."""

from __future__ import annotations

import time

import orjson

from fraudstream.bus.memory import MemoryBus
from fraudstream.detect.amount_rule import AmountRuleDetector
from fraudstream.pipeline.loop import ScoringWorker, WorkerConfig
from fraudstream.pipeline.state import changelog_topic
from fraudstream.pipeline.wiring import build_processor
from fraudstream.settings import TopicSettings

from .conftest import tx


def _worker(interval_ms: int = 100, poll_s: float = 0.02) -> ScoringWorker:
    topics = TopicSettings(transactions_partitions=1, scores_partitions=1)
    bus = MemoryBus()
    bus.create_topics({**topics.partition_counts(), changelog_topic("g"): 1})
    p = bus.producer()
    for i in range(5):
        e = tx(i)
        p.produce(topics.transactions, orjson.dumps(e), key=e["card_id"].encode())
    cfg = WorkerConfig(
        group_id="g",
        worker_id="w0",
        input_topics=[topics.transactions],
        changelog_topics={topics.transactions: changelog_topic("g")},
        max_batch_records=100,
        commit_interval_ms=interval_ms,
        poll_timeout_s=poll_s,
    )
    proc = build_processor(topics, AmountRuleDetector(), codec="json", worker="w0")
    return ScoringWorker(bus, proc, cfg)


def test_without_a_transaction_the_poll_returns_on_the_first_record() -> None:
    w = _worker()
    assert not w._txn_open
    assert w._want() == 1  # a Kafka consume returns as soon as its batch is full
    assert w._poll_timeout() == 0.02


def test_an_open_transaction_asks_for_what_fits_and_waits_no_longer_than_due() -> None:
    w = _worker(interval_ms=100, poll_s=0.02)
    w.consumer.subscribe(w.cfg.input_topics, on_assign=w._on_assign)
    w._process(w.consumer.poll_batch(2, 0.0))
    assert w._txn_open and w._txn_records == 2
    assert w._want() == 98
    w._cycle_start = time.monotonic() - 0.095  # the commit is due in ~5 ms
    assert 0.0 < w._poll_timeout() <= 0.005
    w._cycle_start = time.monotonic() - 1.0  # overdue: poll without waiting, then commit
    assert w._poll_timeout() == 0.0 and w._due() < 0


def test_a_commit_restarts_the_interval() -> None:
    w = _worker(interval_ms=100)
    w.consumer.subscribe(w.cfg.input_topics, on_assign=w._on_assign)
    w._process(w.consumer.poll_batch(5, 0.0))
    w._cycle_start = time.monotonic() - 1.0
    w._commit()
    assert w.stats.commits == 1 and not w._txn_open
    assert 0.09 < w._due() <= 0.1
