"""The pure batch step: routing, dead letters with reasons, scorer failures isolated."""

from __future__ import annotations

from typing import Any

import numpy as np
import orjson
import pytest

from fraudstream.bus.base import Message
from fraudstream.detect.amount_rule import AmountRuleDetector
from fraudstream.detect.base import Decisions
from fraudstream.events.batch import TransactionBatch
from fraudstream.pipeline.state import PartitionStore
from fraudstream.pipeline.wiring import build_processor
from fraudstream.settings import TopicSettings

from .conftest import NOW_MS, tx

TOPICS = TopicSettings()


def msgs(values: list[bytes | None], partition: int = 0) -> list[Message]:
    return [
        Message(TOPICS.transactions, partition, i, b"k", v, NOW_MS - 5)
        for i, v in enumerate(values)
    ]


def stores() -> tuple[dict[int, PartitionStore], Any]:
    held: dict[int, PartitionStore] = {}

    def get(_topic: str, p: int) -> PartitionStore:
        return held.setdefault(p, PartitionStore(p))

    return held, get


def js(rec: dict[str, Any]) -> bytes:
    return orjson.dumps(rec)


class ExplodingDetector(AmountRuleDetector):
    """Raises for one card: the poison record of a scorer bug."""

    def score(self, batch: TransactionBatch, state: Any) -> Decisions:
        if "boom" in batch.col("card_id").tolist():
            state.put("card:boom-partial", b"should be rolled back")
            raise RuntimeError("scorer bug")
        return super().score(batch, state)


@pytest.mark.parametrize("codec", ["json", "avro"])
def test_good_records_are_scored_and_flagged_ones_alerted(codec: str) -> None:
    proc = build_processor(TOPICS, AmountRuleDetector(), codec=codec)  # type: ignore[arg-type]
    if codec == "avro":
        from fraudstream.events.registry import InProcessRegistry
        from fraudstream.pipeline.wiring import register_all, serde_for

        reg = InProcessRegistry()
        register_all(reg, TOPICS)
        enc = serde_for("transaction", TOPICS.transactions, reg).encode
    else:
        enc = js
    batch = [tx(0, amount=10.0), tx(1, amount=950.0), tx(2, card="c2", amount=5.0)]
    held, get = stores()
    res = proc.process(msgs([enc(r) for r in batch]), get, NOW_MS, NOW_MS - 2)
    topics = [r.topic for r in res.records]
    assert topics.count(TOPICS.scores) == 3
    assert topics.count(TOPICS.alerts) == 1
    assert res.dead == {}
    assert res.scored[TOPICS.transactions] == 3
    # outputs keep the input record's timestamp (end-to-end latency is measured on it)
    assert {r.timestamp_ms for r in res.records} == {NOW_MS - 5}
    assert held[0].dirty and held[0].get("card:c1") is not None


def test_every_kind_of_bad_record_is_dead_lettered_with_its_reason() -> None:
    proc = build_processor(TOPICS, ExplodingDetector(), codec="json", worker="w9")
    no_card = tx(3)
    del no_card["card_id"]
    bad = {
        b"\x00\x01garbage": "undecodable",
        b"[1, 2]": "undecodable",
        js(no_card): "schema_invalid",
        js(tx(4, amount=-5.0)): "validation_failed",
        js(tx(5, currency="XXX")): "validation_failed",
        js(tx(6, card_id="  ")): "validation_failed",
        js(tx(7, event_time=NOW_MS + 86_400_000)): "validation_failed",
        js(tx(8, card="boom")): "scoring_failed",
    }
    good = [js(tx(10 + i)) for i in range(5)]
    values: list[bytes | None] = [*good[:2], *bad, *good[2:], None]
    held, get = stores()
    res = proc.process(msgs(values), get, NOW_MS)
    assert res.scored[TOPICS.transactions] == 5
    dead = [orjson.loads(r.value) for r in res.records if r.topic == TOPICS.dead_letter]
    assert len(dead) == len(bad) + 1
    by_offset = {d["source_offset"]: d for d in dead}
    for i, (raw, reason) in enumerate(bad.items(), start=2):
        d = by_offset[i]
        assert d["reason"] == reason, (raw, d)
        assert d["original_value"].encode("latin-1") == raw
        assert d["source_topic"] == TOPICS.transactions and d["worker"] == "w9"
        assert d["failed_at"] == NOW_MS
    assert by_offset[len(values) - 1]["reason"] == "undecodable"  # the tombstone
    fields = {d["field"] for d in dead}
    assert {"card_id", "amount", "currency", "event_time"} <= fields
    # the failed scorer call's partial write was rolled back; good records kept theirs
    assert held[0].get("card:boom-partial") is None
    assert held[0].get("card:c1") is not None


def test_velocity_state_is_the_same_whether_a_poison_record_is_there_or_not() -> None:
    records = [tx(i, card="c1") for i in range(6)]
    held_a, get_a = stores()
    build_processor(TOPICS, ExplodingDetector(), codec="json").process(
        msgs([js(r) for r in records]), get_a, NOW_MS
    )
    held_b, get_b = stores()
    poisoned = [*records[:3], tx(99, card="boom"), *records[3:]]
    res = build_processor(TOPICS, ExplodingDetector(), codec="json").process(
        msgs([js(r) for r in poisoned]), get_b, NOW_MS
    )
    assert res.dead == {"scoring_failed": 1}
    assert held_a[0].snapshot() == held_b[0].snapshot()


def test_partitions_get_their_own_store() -> None:
    proc = build_processor(TOPICS, AmountRuleDetector(), codec="json")
    held, get = stores()
    m = [
        *msgs([js(tx(0, card="c1"))], partition=0),
        Message(TOPICS.transactions, 4, 0, b"k", js(tx(1, card="c9")), NOW_MS),
    ]
    proc.process(m, get, NOW_MS)
    assert list(held[0].keys()) == ["card:c1"]
    assert list(held[4].keys()) == ["card:c9"]


def test_amount_rule_actions_and_reasons() -> None:
    det = AmountRuleDetector()
    recs = [tx(i, amount=10.0) for i in range(3)] + [
        tx(3, amount=1000.0),
        tx(4, card="z", amount=901),
    ]
    d = det.score(TransactionBatch(recs), PartitionStore(0))
    assert d.action.tolist() == ["ALLOW", "ALLOW", "ALLOW", "BLOCK", "REVIEW"]
    assert d.risk_level.tolist()[3:] == ["CRITICAL", "HIGH"]
    assert d.reasons[3] == ["AMOUNT_GE_900", "CARD_VELOCITY_10M"]
    assert d.reasons[4] == ["AMOUNT_GE_900"]
    assert np.all((d.fraud_score >= 0) & (d.fraud_score <= 1))
    assert d.features is not None and d.features[:, 1].tolist() == [1, 2, 3, 4, 1]


def test_user_events_are_scored_to_their_own_topic_with_per_user_state() -> None:
    from fraudstream.events.registry import InProcessRegistry
    from fraudstream.pipeline.wiring import register_all, serde_for

    reg = InProcessRegistry()
    register_all(reg, TOPICS)
    proc = build_processor(TOPICS, AmountRuleDetector(), registry=reg, user_events=True)
    enc = serde_for("user_event", TOPICS.user_events, reg)

    def ev(i: int, status: str = "ERROR", **over: Any) -> dict[str, Any]:
        rec = {"event_id": f"e{i}", "user_id": "u1", "session_id": "s1",
               "event_type": "PAYMENT", "event_timestamp": NOW_MS - 1000 + i,
               "request_latency_ms": 80, "status": status,
               "error_code": 500 if status == "ERROR" else None, "product_id": None}  # fmt: skip
        rec.update(over)
        return rec

    events = [ev(i) for i in range(5)] + [ev(5, status="SUCCESS", error_code=503)]
    msgs = [
        Message(TOPICS.user_events, 1, i, b"u1", enc.encode(e), NOW_MS)
        for i, e in enumerate(events)
    ]
    held, get = stores()
    res = proc.process(msgs, get, NOW_MS)
    out = serde_for("scored_user_event", TOPICS.user_events_scored, reg)
    scored = [out.decode(r.value) for r in res.records if r.topic == TOPICS.user_events_scored]
    assert [s["event_id"] for s in scored] == [f"e{i}" for i in range(5)]
    assert [s["is_fraud"] for s in scored] == [False, False, False, True, True]
    assert res.dead == {"validation_failed": 1}
    assert held[1].get("user:u1") is not None


class BadOutputDetector(AmountRuleDetector):
    """Returns a risk level the output schema refuses for card 'bad-output'."""

    def score(self, batch: TransactionBatch, state: Any) -> Decisions:
        d = super().score(batch, state)
        for i, card in enumerate(batch.col("card_id").tolist()):
            if card == "bad-output":
                d.risk_level[i] = None
        return d


def test_a_decision_that_does_not_fit_the_output_schema_is_dead_lettered() -> None:
    from fraudstream.events.registry import InProcessRegistry
    from fraudstream.pipeline.wiring import register_all, serde_for

    reg = InProcessRegistry()
    register_all(reg, TOPICS)
    enc = serde_for("transaction", TOPICS.transactions, reg).encode
    proc = build_processor(TOPICS, BadOutputDetector(), registry=reg)
    batch = [tx(0, amount=950.0), tx(1, card="bad-output", amount=950.0), tx(2, amount=950.0)]
    _held, get = stores()
    res = proc.process(msgs([enc(r) for r in batch]), get, NOW_MS)
    topics = [r.topic for r in res.records]
    assert topics.count(TOPICS.scores) == 2 and topics.count(TOPICS.alerts) == 2
    assert res.dead == {"schema_invalid": 1} and res.scored[TOPICS.transactions] == 2
    dead = serde_for("dead_letter", TOPICS.dead_letter, reg)
    letter = next(dead.decode(r.value) for r in res.records if r.topic == TOPICS.dead_letter)
    assert letter["source_offset"] == 1 and letter["field"] == "risk_level"
