"""The exactly-once scoring pipeline on a real Kafka broker.

kill -9 chaos with real ``fraudstream score`` processes, poison input of many
kinds (Hypothesis bytes among them), a fenced producer, and a cooperative
rebalance between two workers.
"""

from __future__ import annotations

import math
import threading
import time
from collections import Counter
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from fraudstream.bench.chaos import read_all, run_chaos
from fraudstream.bus.kafka import KafkaBus
from fraudstream.detect.amount_rule import AmountRuleDetector
from fraudstream.detect.base import Decisions
from fraudstream.events.batch import TransactionBatch
from fraudstream.events.registry import InProcessRegistry
from fraudstream.events.validate import validate_transactions
from fraudstream.pipeline.loop import ScoringWorker
from fraudstream.pipeline.service import ensure_topics, make_worker
from fraudstream.pipeline.wiring import register_all, serde_for
from fraudstream.settings import KafkaSettings, Settings, TopicSettings

pytestmark = pytest.mark.integration


class ExplodingDetector(AmountRuleDetector):
    """The rule scorer with a bug: it raises on card 'boom'."""

    def score(self, batch: TransactionBatch, state: Any) -> Decisions:
        if "boom" in batch.col("card_id").tolist():
            raise ZeroDivisionError("scorer bug")
        return super().score(batch, state)


def _settings(bootstrap: str, topics: TopicSettings, group: str) -> Settings:
    kafka = KafkaSettings(
        bootstrap_servers=bootstrap, linger_ms=1, session_timeout_ms=6000,
        transaction_timeout_ms=10_000,
    )  # fmt: skip
    s = Settings(bus="kafka", topics=topics, kafka=kafka)
    # The seed's amount rule + card velocity: the tests compare the scored velocity
    # feature with a crash-free replay of exactly this detector.
    s.pipeline = s.pipeline.model_copy(
        update={"group_id": group, "max_batch_records": 200, "detector": "amount-rule"}
    )
    return s


BASE_MS = int(time.time() * 1000) - 3_600_000


def _tx(i: int, **over: Any) -> dict[str, Any]:
    rec = {
        "transaction_id": f"t{i}",
        "event_time": BASE_MS + i * 100,
        "card_id": f"c{i % 13}",
        "account_id": "a1",
        "customer_id": "u1",
        "merchant_id": "m1",
        "merchant_category": "grocery",
        "merchant_country": "FR",
        "customer_country": "FR",
        "amount": 950.0 if i % 17 == 0 else 12.5,
        "currency": "EUR",
        "channel": "POS",
        "tx_type": "PURCHASE",
    }
    rec.update(over)
    return rec


def _run_until_idle(worker: ScoringWorker, idle_s: float = 3.0) -> Any:
    return worker.run(threading.Event(), idle_exit_s=idle_s)


def test_exactly_once_under_kill_9(kafka_bootstrap: str) -> None:
    result = run_chaos(kafka_bootstrap, records=20_000, workers=2, kills=3, rate=1000, seed=3)
    assert result.kills == 3, result
    assert result.lost == 0 and result.duplicated == 0, result
    assert result.scored_unique == 20_000
    assert result.alerts_expected > 0 and result.alerts_lost == 0
    assert result.alerts_duplicated == 0 and result.alerts_unexpected == 0
    assert result.state_keys > 0 and result.state_mismatches == 0
    assert result.feature_mismatches == 0


@settings(
    max_examples=1,
    phases=[Phase.generate],  # one real-broker run; no shrinking
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(junk=st.lists(st.binary(max_size=80), min_size=25, max_size=25))
def test_poison_input_goes_to_dead_letter_and_the_stream_goes_on(
    kafka_bootstrap: str, unique_topics: Any, junk: list[bytes]
) -> None:
    topics = unique_topics(partitions={"transactions": 3})
    group = unique_topics.name("poison")
    s = _settings(kafka_bootstrap, topics, group)
    bus = KafkaBus(s.kafka)
    ensure_topics(bus, s)
    reg = InProcessRegistry()
    register_all(reg, topics)
    tx = serde_for("transaction", topics.transactions, reg)
    fb = serde_for("feedback", topics.feedback, reg)
    now = int(time.time() * 1000)
    good = [_tx(i) for i in range(600)]
    wire = tx.encode(_tx(9999))
    bad: list[tuple[bytes | None, str]] = [
        (b'{"transaction_id": "json"}', "undecodable"),  # JSON, not wire format
        (wire[:-7], "undecodable"),  # truncated Avro
        (b"\x00\x00\x00\x03\xe7" + wire[5:], "undecodable"),  # unknown schema id
        (None, "undecodable"),  # tombstone
        (fb.encode({"transaction_id": "t", "label": "fraud", "analyst": "a", "comment": None,
                    "created_at": now}), "undecodable"),  # another schema's record
        (tx.encode(_tx(10_001, amount=-5.0)), "validation_failed"),
        (tx.encode(_tx(10_002, amount=math.nan)), "validation_failed"),
        (tx.encode(_tx(10_003, currency="XXX")), "validation_failed"),
        (tx.encode(_tx(10_004, card_id="")), "validation_failed"),
        (tx.encode(_tx(10_005, event_time=now + 86_400_000)), "validation_failed"),
        (tx.encode(_tx(10_006, merchant_country="ZZ")), "validation_failed"),
        (tx.encode(_tx(10_007, card_id="boom")), "scoring_failed"),
    ]  # fmt: skip
    # Hypothesis bytes: what they should become is what decode + validate say.
    recs, errs = tx.decode_many(junk)
    for raw, rec, err in zip(junk, recs, errs, strict=True):
        if err is not None:
            bad.append((raw, err.reason_code))
        else:
            assert rec is not None
            verr = validate_transactions([rec], now)[0]
            if verr is not None:
                bad.append((raw, verr.reason_code))
            else:
                good.append(rec)
    kinds = {reason for _, reason in bad}
    assert len(bad) >= 0.05 * (len(good) + len(bad)) and len(bad) >= 8 and len(kinds) == 3
    producer = bus.producer()
    pending = list(bad)
    for i, rec in enumerate(good):  # bad records interleaved with good ones, rest at the end
        producer.produce(topics.transactions, tx.encode(rec), key=rec["card_id"].encode())
        if i % 20 == 0 and pending:
            producer.produce(topics.transactions, pending.pop(0)[0], key=f"bad-{i}".encode())
    for value, _ in pending:
        producer.produce(topics.transactions, value, key=b"bad-tail")
    producer.flush(30)
    s.pipeline = s.pipeline.model_copy(update={"worker_id": "p0"})
    stats = _run_until_idle(make_worker(bus, s, detector=ExplodingDetector(), registry=reg))
    assert stats.exit_reason == "idle"
    scored = serde_for("scored_transaction", topics.scores, reg)
    dead = serde_for("dead_letter", topics.dead_letter, reg)
    got_ids = Counter(
        scored.decode(m.value)["transaction_id"] for m in read_all(bus, topics.scores)
    )
    assert got_ids == Counter(r["transaction_id"] for r in good)
    letters = [dead.decode(m.value) for m in read_all(bus, topics.dead_letter)]
    want = Counter((v, r) for v, r in bad)
    got = Counter((d["original_value"], d["reason"]) for d in letters)
    assert got == want
    assert all(d["source_topic"] == topics.transactions and d["worker"] == "p0" for d in letters)
    fields = {d["field"] for d in letters}
    assert {"amount", "currency", "card_id", "event_time", "merchant_country"} <= fields


def test_a_fenced_worker_stops_and_its_successor_scores_exactly_once(
    kafka_bootstrap: str, unique_topics: Any
) -> None:
    topics = unique_topics(partitions={"transactions": 2})
    s = _settings(kafka_bootstrap, topics, unique_topics.name("fence"))
    bus = KafkaBus(s.kafka)
    ensure_topics(bus, s)
    reg = InProcessRegistry()
    register_all(reg, topics)
    tx = serde_for("transaction", topics.transactions, reg)
    p = bus.producer()
    for i in range(300):
        p.produce(topics.transactions, tx.encode(_tx(i)), key=f"c{i % 13}".encode())
    p.flush(30)
    zombie = make_worker(bus, s, registry=reg)
    stop = threading.Event()
    t = threading.Thread(target=zombie.run, args=(stop,))
    t.start()
    deadline = time.monotonic() + 60
    while zombie.stats.commits == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert zombie.stats.commits > 0
    # A new incarnation of the same worker id: init_transactions fences the zombie.
    successor = make_worker(bus, s, registry=reg)
    for i in range(300, 600):
        p.produce(topics.transactions, tx.encode(_tx(i)), key=f"c{i % 13}".encode())
    p.flush(30)
    t.join(60)
    assert zombie.stats.exit_reason == "fenced"
    stats = _run_until_idle(successor)
    assert stats.exit_reason == "idle"
    scored = serde_for("scored_transaction", topics.scores, reg)
    ids = Counter(scored.decode(m.value)["transaction_id"] for m in read_all(bus, topics.scores))
    assert len(ids) == 600 and max(ids.values()) == 1


def test_rebalance_between_two_workers_keeps_exactly_once_and_state(
    kafka_bootstrap: str, unique_topics: Any
) -> None:
    topics = unique_topics(partitions={"transactions": 4})
    s = _settings(kafka_bootstrap, topics, unique_topics.name("rebal"))
    bus = KafkaBus(s.kafka)
    ensure_topics(bus, s)
    reg = InProcessRegistry()
    register_all(reg, topics)
    tx = serde_for("transaction", topics.transactions, reg)
    p = bus.producer()

    def feed(lo: int, hi: int) -> None:
        for i in range(lo, hi):
            p.produce(topics.transactions, tx.encode(_tx(i)), key=f"c{i % 13}".encode())
        p.flush(30)

    feed(0, 2000)
    s0 = s.model_copy(deep=True)
    s0.pipeline = s.pipeline.model_copy(update={"worker_id": "r0"})
    s1 = s.model_copy(deep=True)
    s1.pipeline = s.pipeline.model_copy(update={"worker_id": "r1"})
    w0, w1 = make_worker(bus, s0, registry=reg), make_worker(bus, s1, registry=reg)
    stop0, stop1 = threading.Event(), threading.Event()
    t0 = threading.Thread(target=w0.run, args=(stop0,))
    t0.start()
    deadline = time.monotonic() + 60
    while w0.stats.commits == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    t1 = threading.Thread(target=w1.run, args=(stop1,))
    t1.start()  # cooperative rebalance: r0 commits and hands over some partitions
    deadline = time.monotonic() + 60
    while not w1.stores and time.monotonic() < deadline:
        time.sleep(0.05)
    feed(2000, 4000)
    while w0.stats.consumed + w1.stats.consumed < 4000 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert w1.stats.consumed > 0
    stop0.set()  # r0 leaves gracefully: r1 restores its partitions' state and goes on
    t0.join(30)
    feed(4000, 5000)
    deadline = time.monotonic() + 60
    while w0.stats.consumed + w1.stats.consumed < 5000 and time.monotonic() < deadline:
        time.sleep(0.1)
    stop1.set()
    t1.join(30)
    assert w0.stats.rebalances >= 2 and w1.stats.rebalances >= 2
    assert w1.stats.restored > 0  # state moved with the partitions
    scored = serde_for("scored_transaction", topics.scores, reg)
    out = [scored.decode(m.value) for m in read_all(bus, topics.scores)]
    ids = Counter(r["transaction_id"] for r in out)
    assert len(ids) == 5000 and max(ids.values()) == 1
    # velocity features equal a crash-free, single-worker computation per card
    det, store = AmountRuleDetector(), {}
    from fraudstream.pipeline.state import PartitionStore

    want: dict[str, float] = {}
    for i in range(5000):
        rec = _tx(i)
        st_ = store.setdefault(rec["card_id"], PartitionStore(0))
        d = det.score(TransactionBatch([rec]), st_)
        assert d.features is not None
        want[rec["transaction_id"]] = float(d.features[0, 1])
    assert {r["transaction_id"]: r["features"]["card_tx_count_10m"] for r in out} == want
