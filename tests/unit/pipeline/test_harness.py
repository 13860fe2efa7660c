"""The whole loop on the in-process bus: partitions, workers, injected clock, failures."""

from __future__ import annotations

import threading
import time
from collections import Counter
from typing import Any

from fraudstream.bus.memory import MemoryBus
from fraudstream.detect.amount_rule import AmountRuleDetector
from fraudstream.errors import AbortableTransactionError
from fraudstream.pipeline.harness import read_topic, run_pipeline
from fraudstream.pipeline.loop import ScoringWorker, WorkerConfig
from fraudstream.pipeline.state import changelog_topic
from fraudstream.pipeline.wiring import build_processor
from fraudstream.settings import TopicSettings

from .conftest import NOW_MS, tx


def stream(n: int, cards: int = 7) -> list[dict[str, Any]]:
    return [tx(i, card=f"c{i % cards}", amount=950.0 if i % 11 == 0 else 20.0) for i in range(n)]


def test_every_record_scored_once_across_partitions_with_injected_clock(clock: Any) -> None:
    events = stream(300)
    run = run_pipeline(events, partitions=4, clock=clock, max_batch_records=32)
    ids = Counter(s["transaction_id"] for s in run.scores)
    assert set(ids) == {e["transaction_id"] for e in events} and max(ids.values()) == 1
    assert {s["scored_at"] for s in run.scores} == {NOW_MS}
    flagged = {s["transaction_id"] for s in run.scores if s["action"] != "ALLOW"}
    assert {e["transaction_id"] for e in events if e["amount"] >= 900} <= flagged
    assert {a["transaction_id"] for a in run.alerts} == flagged
    assert len(run.alerts) == len(flagged)
    assert run.dead_letters == []
    assert len([p for p, s in run.state.items() if s]) > 1


def test_two_workers_give_the_same_outputs_and_state_as_one(clock: Any) -> None:
    events = stream(400)
    one = run_pipeline(events, partitions=4, workers=1, clock=clock)
    two = run_pipeline(events, partitions=4, workers=2, clock=clock)
    key = lambda s: s["transaction_id"]  # noqa: E731
    assert sorted(one.scores, key=key) == sorted(two.scores, key=key)
    assert one.state == two.state
    assert sum(s.consumed for s in two.stats) == 400


def test_clock_decides_what_is_too_far_in_the_future() -> None:
    events = [tx(0, event_time=NOW_MS + 60_000), tx(1, event_time=NOW_MS + 3_600_000)]
    run = run_pipeline(events, partitions=1, clock=lambda: NOW_MS / 1000)
    assert [s["transaction_id"] for s in run.scores] == ["t0"]
    assert [d["reason"] for d in run.dead_letters] == ["validation_failed"]


def _worker(bus: MemoryBus, topics: TopicSettings, wid: str = "w0") -> ScoringWorker:
    proc = build_processor(topics, AmountRuleDetector(), codec="json", worker=wid)
    cfg = WorkerConfig(
        group_id="g",
        worker_id=wid,
        input_topics=[topics.transactions],
        changelog_topics={topics.transactions: changelog_topic("g")},
        max_batch_records=50,
        commit_interval_ms=1,
        poll_timeout_s=0.01,
    )
    return ScoringWorker(bus, proc, cfg)


def _bus(events: list[dict[str, Any]], partitions: int = 2) -> tuple[MemoryBus, TopicSettings]:
    import orjson

    topics = TopicSettings(transactions_partitions=partitions, scores_partitions=partitions)
    bus = MemoryBus()
    bus.create_topics({**topics.partition_counts(), changelog_topic("g"): partitions})
    p = bus.producer()
    for e in events:
        p.produce(topics.transactions, orjson.dumps(e), key=e["card_id"].encode())
    return bus, topics


def test_abortable_commit_aborts_rewinds_and_still_scores_exactly_once() -> None:
    events = stream(200)
    bus, topics = _bus(events)
    w = _worker(bus, topics)
    real_commit = w.producer.commit
    calls = {"n": 0}

    def flaky_commit() -> None:
        calls["n"] += 1
        if calls["n"] in (2, 3):
            raise AbortableTransactionError("injected")
        real_commit()

    w.producer.commit = flaky_commit  # type: ignore[method-assign]
    stats = w.run(threading.Event(), idle_exit_s=0.3)
    assert stats.aborts == 2
    ids = Counter(m.key for m in read_topic(bus, topics.scores))
    assert sum(ids.values()) == 200
    import orjson

    scored = Counter(
        orjson.loads(m.value)["transaction_id"] for m in read_topic(bus, topics.scores)
    )
    assert len(scored) == 200 and max(scored.values()) == 1


def test_fenced_worker_stops_without_committing() -> None:
    events = stream(50)
    bus, topics = _bus(events)
    w = _worker(bus, topics)
    bus.transactional_producer("g-w0")  # a newer incarnation of the same worker id
    stats = w.run(threading.Event(), idle_exit_s=1.0)
    assert stats.exit_reason == "fenced"
    assert read_topic(bus, topics.scores) == []
    # a restarted worker picks everything up from the committed (zero) offsets
    stats2 = _worker(bus, topics).run(threading.Event(), idle_exit_s=0.3)
    assert stats2.scored == 50
    assert len(read_topic(bus, topics.scores)) == 50


def test_graceful_stop_commits_the_open_transaction() -> None:
    events = stream(30)
    bus, topics = _bus(events, partitions=1)
    w = _worker(bus, topics)
    w.cfg.commit_interval_ms = 60_000  # never by time: only the stop commits
    w.cfg.max_batch_records = 10_000
    stop = threading.Event()
    t = threading.Thread(target=w.run, args=(stop,))
    t.start()
    import time

    deadline = time.monotonic() + 5
    while w.stats.consumed < 30 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert read_topic(bus, topics.scores) == []  # open transaction: invisible
    stop.set()
    t.join(5)
    assert w.stats.exit_reason == "stopped" and w.stats.commits == 1
    assert len(read_topic(bus, topics.scores)) == 30


def test_lost_partitions_abort_the_transaction_and_nothing_is_duplicated() -> None:
    import orjson

    from fraudstream.detect.base import Decisions
    from fraudstream.events.batch import TransactionBatch

    class SlowOnce(AmountRuleDetector):
        """Stalls once, long enough for the group to evict the worker (session timeout)."""

        stalled = False

        def score(self, batch: TransactionBatch, state: Any) -> Decisions:
            if not SlowOnce.stalled:
                SlowOnce.stalled = True
                time.sleep(0.8)
            return super().score(batch, state)

    events = stream(300)
    topics = TopicSettings(transactions_partitions=2, scores_partitions=2)
    bus = MemoryBus(session_timeout_s=0.3)
    bus.create_topics({**topics.partition_counts(), changelog_topic("g"): 2})
    p = bus.producer()
    for e in events:
        p.produce(topics.transactions, orjson.dumps(e), key=e["card_id"].encode())
    slow = _worker(bus, topics, "slow")
    slow.processor = build_processor(topics, SlowOnce(), codec="json", worker="slow")
    other = _worker(bus, topics, "other")
    stop = threading.Event()
    t_slow = threading.Thread(target=slow.run, args=(stop,), kwargs={"idle_exit_s": 1.0})
    t_slow.start()
    while not SlowOnce.stalled:
        time.sleep(0.01)
    # joins while "slow" is stuck in its scorer: the group evicts it, "slow" loses its
    # partitions in the middle of an open transaction
    t_other = threading.Thread(target=other.run, args=(stop,), kwargs={"idle_exit_s": 1.0})
    t_other.start()
    t_slow.join(20)
    t_other.join(20)
    assert slow.stats.aborts >= 1
    scored = Counter(
        orjson.loads(m.value)["transaction_id"] for m in read_topic(bus, topics.scores)
    )
    assert len(scored) == 300 and max(scored.values()) == 1
