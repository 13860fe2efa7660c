"""Click-stream simulator: the seed's rules, session continuity, determinism, bots."""

from __future__ import annotations

import itertools
import uuid
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import orjson
import pytest

from fraudstream.bus.base import TopicPartition
from fraudstream.bus.memory import MemoryBus
from fraudstream.events.jsonio import read_jsonl
from fraudstream.events.registry import InProcessRegistry
from fraudstream.events.serde import AvroSerde
from fraudstream.generate.clickstream import (
    EVENT_TYPES,
    HUMAN_PACED,
    LABEL_HEADER,
    PRODUCT_EVENTS,
    ClickstreamConfig,
    ClickstreamGenerator,
    LabelledEvent,
    label_from_headers,
)
from fraudstream.generate.clickstream_run import (
    DeliveryReport,
    RunOptions,
    WorkerStats,
    kafka_producer_config,
    publish_events,
    run_worker,
)
from fraudstream.settings import KafkaSettings

START = 1_767_225_600_000


def stream(n: int, **over: Any) -> list[LabelledEvent]:
    return ClickstreamGenerator(ClickstreamConfig(**over), start_time_ms=START).take(n)


@pytest.fixture(scope="module")
def events() -> list[LabelledEvent]:
    return stream(20_000, seed=3, bot_session_probability=0.05)


def test_seed_rules_hold_for_every_event(events: list[LabelledEvent]) -> None:
    serde = AvroSerde("user_event", InProcessRegistry(), "user-events-value")
    for le in events:
        ev = le.event
        assert ev["event_type"] in EVENT_TYPES
        assert 50 <= ev["request_latency_ms"] <= 1500
        if ev["status"] == "ERROR":
            assert 400 <= ev["error_code"] <= 599
        else:
            assert ev["status"] == "SUCCESS" and ev["error_code"] is None
        if ev["event_type"] in PRODUCT_EVENTS:
            assert 1 <= ev["product_id"] <= 10_000
        else:
            assert ev["product_id"] is None
        for key in ("event_id", "user_id", "session_id"):
            assert uuid.UUID(ev[key]).version == 4
        assert serde.decode(serde.encode(ev)) == ev  # fits the Avro contract


def test_event_ids_unique_and_time_ordered(events: list[LabelledEvent]) -> None:
    assert len({e.event["event_id"] for e in events}) == len(events)
    ts = [e.event["event_timestamp"] for e in events]
    assert ts == sorted(ts) and ts[0] >= START


def test_all_five_types_and_both_statuses_occur(events: list[LabelledEvent]) -> None:
    legit = [e.event for e in events if not e.is_fraud]
    assert set(Counter(e["event_type"] for e in legit)) == set(EVENT_TYPES)
    # error probability is U(0, 0.5) per event, so about a quarter of events fail
    error_rate = sum(e["status"] == "ERROR" for e in legit) / len(legit)
    assert 0.22 < error_rate < 0.28


def test_a_session_belongs_to_one_user(events: list[LabelledEvent]) -> None:
    owner: dict[str, str] = {}
    for e in events:
        assert owner.setdefault(e.event["session_id"], e.event["user_id"]) == e.event["user_id"]


def test_session_continuity_follows_the_new_session_probability() -> None:
    one_session = stream(
        500,
        seed=1,
        new_session_probability=0.0,
        bot_session_probability=0.0,
        events_per_second=1.0,
        think_time_ms=1000.0,
    )
    assert len({e.event["session_id"] for e in one_session}) == 1
    always_new = stream(
        300,
        seed=1,
        new_session_probability=1.0,
        bot_session_probability=0.0,
        events_per_second=1.0,
        think_time_ms=1000.0,
    )
    assert len({e.event["session_id"] for e in always_new}) == 300
    # p = 0.1: sessions last 10 events on average (geometric)
    evs = stream(
        20_000,
        seed=2,
        new_session_probability=0.1,
        bot_session_probability=0.0,
        events_per_second=1.0,
        think_time_ms=1000.0,
    )
    sessions = len({e.event["session_id"] for e in evs})
    assert 8.5 < len(evs) / sessions < 11.5


def test_returning_users_open_new_sessions() -> None:
    evs = stream(5000, seed=4, new_session_probability=0.2, returning_user_probability=0.5)
    sessions_per_user: dict[str, set[str]] = defaultdict(set)
    for e in evs:
        sessions_per_user[e.event["user_id"]].add(e.event["session_id"])
    assert max(len(s) for s in sessions_per_user.values()) > 1
    seed_like = stream(5000, seed=4, new_session_probability=0.2)
    per_user: dict[str, set[str]] = defaultdict(set)
    for e in seed_like:
        per_user[e.event["user_id"]].add(e.event["session_id"])
    assert max(len(s) for s in per_user.values()) == 1


def test_same_seed_same_stream_other_seed_or_worker_differs() -> None:
    a = stream(2000, seed=9)
    assert a == stream(2000, seed=9)
    assert a != stream(2000, seed=10)
    other_worker = ClickstreamGenerator(ClickstreamConfig(seed=9), worker_id=1, start_time_ms=START)
    assert other_worker.take(2000) != a


def test_bot_sessions_are_labelled_and_look_like_bots(events: list[LabelledEvent]) -> None:
    by_session: dict[str, list[LabelledEvent]] = defaultdict(list)
    for e in events:
        by_session[e.event["session_id"]].append(e)
    gen = ClickstreamGenerator(ClickstreamConfig(seed=3), start_time_ms=START)
    hot = set(gen.hot_products)
    bots = {s: evs for s, evs in by_session.items() if evs[0].is_fraud}
    assert bots and len(bots) < len(by_session)
    for evs in by_session.values():
        # a session is wholly bot or wholly legitimate
        assert len({(e.is_fraud, e.scenario) for e in evs}) == 1
    for evs in bots.values():
        scenario = evs[0].scenario
        if scenario in HUMAN_PACED:
            continue  # test_human_paced_bots_hide_in_human_timing
        ts = [e.event["event_timestamp"] for e in evs]
        assert all(0 <= b - a <= 300 for a, b in itertools.pairwise(ts))
        if scenario == "checkout_hammer":
            types = {e.event["event_type"] for e in evs}
            assert types <= {"ADD_TO_CART", "CHECKOUT", "PAYMENT"}
            carted = [e.event["product_id"] for e in evs if e.event["event_type"] == "ADD_TO_CART"]
            assert set(carted) <= hot
        else:
            assert scenario == "scraper"
            assert {e.event["event_type"] for e in evs} <= {"SEARCH", "VIEW_PRODUCT"}
    hammer = [e.event for e in events if e.scenario == "checkout_hammer"]
    pay = [e for e in hammer if e["event_type"] != "ADD_TO_CART"]
    assert sum(e["status"] == "ERROR" for e in pay) / len(pay) > 0.6
    assert not any(e.is_fraud for e in stream(3000, seed=3, bot_session_probability=0.0))


def test_human_paced_bots_hide_in_human_timing() -> None:
    events = stream(10_000, seed=3, bot_session_probability=0.3, new_session_probability=0.05)
    gen = ClickstreamGenerator(ClickstreamConfig(seed=3), start_time_ms=START)
    by_session: dict[str, list[LabelledEvent]] = defaultdict(list)
    for e in events:
        if e.scenario in HUMAN_PACED:
            by_session[e.event["session_id"]].append(e)
    kinds = Counter(evs[0].scenario for evs in by_session.values())
    assert kinds["account_farm"] >= 5 and kinds["slow_scraper"] >= 5
    gaps = [
        b.event["event_timestamp"] - a.event["event_timestamp"]
        for evs in by_session.values()
        for a, b in itertools.pairwise(evs)
    ]
    assert sorted(gaps)[len(gaps) // 2] > 1000  # a person's pace, not a script's
    latencies = [e.event["request_latency_ms"] for evs in by_session.values() for e in evs]
    assert max(latencies) > 1000
    farm = [evs for evs in by_session.values() if evs[0].scenario == "account_farm"]
    # many sessions behind a few farmed accounts (the event has no IP or device)
    assert {evs[0].event["user_id"] for evs in farm} <= set(gen.farm_accounts)
    assert len({evs[0].event["user_id"] for evs in farm}) < len(farm)
    target = set(gen.target_products)
    views = [e.event["product_id"] for evs in by_session.values() for e in evs
             if e.scenario == "slow_scraper" and e.event["product_id"] is not None]  # fmt: skip
    in_target = sum(p in target for p in views) / len(views)
    assert 0.5 < in_target < 0.95  # mostly the campaign's segment, some noise
    # mimicking bots draw event types as people do: every type occurs in some farm session
    farm_types = Counter(e.event["event_type"] for evs in farm for e in evs)
    assert set(farm_types) == set(EVENT_TYPES)


def test_bot_weights_select_the_scripts() -> None:
    only = stream(5000, seed=8, bot_session_probability=0.3, bot_weights=(0.0, 0.0, 0.0, 1.0))
    assert {e.scenario for e in only if e.is_fraud} == {"slow_scraper"}
    with pytest.raises(ValueError, match="bot_weights"):
        ClickstreamConfig(bot_weights=(1.0, 1.0))  # type: ignore[arg-type]


def test_label_header_and_jsonl_record() -> None:
    le = stream(1, seed=1)[0]
    [(name, value)] = le.label_headers()
    assert name == LABEL_HEADER
    assert orjson.loads(value) == {"is_fraud": le.is_fraud, "fraud_scenario": le.scenario}
    rec = le.jsonl_record()
    assert rec["is_fraud"] is le.is_fraud and "is_fraud" not in le.event


def test_config_rejects_bad_probabilities() -> None:
    with pytest.raises(ValueError, match="bot_session_probability"):
        ClickstreamConfig(bot_session_probability=1.5)
    with pytest.raises(ValueError):
        ClickstreamConfig(events_per_second=0)


def test_jsonl_worker_writes_max_messages(tmp_path: Path) -> None:
    path = tmp_path / "out" / "clicks.jsonl"
    config = ClickstreamConfig(seed=5, bot_session_probability=0.2)
    opts = RunOptions(output="jsonl", path=path, rate=0, max_messages=500, start_time_ms=START)
    stats = run_worker(0, config, opts)
    assert stats.produced == 500
    rows = list(read_jsonl(path, "user_event"))
    assert len(rows) == 500
    expected = ClickstreamGenerator(config, start_time_ms=START).take(500)
    assert rows == [e.jsonl_record() for e in expected]


def test_publish_events_on_the_memory_bus() -> None:
    bus = MemoryBus()
    bus.create_topics({"user-events": 3})
    serde = AvroSerde("user_event", InProcessRegistry(), "user-events-value")
    evs = stream(300, seed=6, bot_session_probability=0.2)
    producer = bus.producer()
    assert publish_events(producer, "user-events", serde, evs) == 300
    producer.flush()
    consumer = bus.consumer("t", read_committed=False)
    consumer.assign([TopicPartition("user-events", p) for p in range(3)])
    msgs = []
    for _ in range(20):
        msgs += consumer.poll_batch(1000, 0.1)
        if len(msgs) == 300:
            break
    assert len(msgs) == 300
    by_id = {e.event["event_id"]: e for e in evs}
    for m in msgs:
        ev = serde.decode(m.value)
        assert m.key == ev["user_id"].encode()
        label = orjson.loads(dict(m.headers)[LABEL_HEADER])
        assert label["is_fraud"] == by_id[ev["event_id"]].is_fraud


class FakeKafkaProducer:
    """Stands in for confluent-kafka's Producer: a full queue for the first calls."""

    def __init__(self, full_times: int) -> None:
        self.full_times = full_times
        self.produced: list[tuple[str, bytes, bytes]] = []
        self.polls: list[float] = []
        self.callbacks: list[Any] = []

    def produce(
        self, topic: str, *, value: bytes, key: bytes, headers: Any, on_delivery: Any
    ) -> None:
        if self.full_times > 0:
            self.full_times -= 1
            raise BufferError("Local: Queue full")
        self.produced.append((topic, key, value))
        self.callbacks.append(on_delivery)

    def poll(self, timeout: float) -> int:
        self.polls.append(timeout)
        return 0

    def flush(self, timeout: float) -> int:
        for cb in self.callbacks:
            cb(None, None)
        self.callbacks.clear()
        return 0


def test_full_queue_is_waited_out_and_nothing_is_dropped() -> None:
    fake = FakeKafkaProducer(full_times=3)
    opts = RunOptions(output="kafka", topic="clicks", rate=0, max_messages=50, start_time_ms=START)
    stats = run_worker(
        0, ClickstreamConfig(seed=8), opts, registry=InProcessRegistry(), producer=fake
    )
    assert stats.buffer_full == 3 and 0.5 in fake.polls
    assert stats.produced == 50 and stats.delivered == 50 and stats.failed == 0
    serde = AvroSerde("user_event", InProcessRegistry(), "clicks-value")
    expected = ClickstreamGenerator(ClickstreamConfig(seed=8), start_time_ms=START).take(50)
    assert [serde.decode(v) for _, _, v in fake.produced] == [e.event for e in expected]
    assert [k for _, k, _ in fake.produced] == [e.event["user_id"].encode() for e in expected]


class FakeError:
    def code(self) -> int:
        return 3

    def str(self) -> str:
        return "Broker: Unknown topic or partition"


class FakeMsg:
    def topic(self) -> str:
        return "clicks"

    def partition(self) -> int:
        return 2

    def key(self) -> bytes:
        return b"user-1"


def test_delivery_failures_are_logged_with_their_origin(caplog: pytest.LogCaptureFixture) -> None:
    stats = WorkerStats()
    report = DeliveryReport(stats)
    report(None, FakeMsg())
    with caplog.at_level("ERROR"):
        report(FakeError(), FakeMsg())
    assert stats.delivered == 1 and stats.failed == 1
    line = caplog.records[-1].getMessage()
    for part in ("topic=clicks", "partition=2", "key=user-1", "code=3", "Unknown topic"):
        assert part in line


def test_kafka_producer_config_is_the_seeds() -> None:
    conf = kafka_producer_config(KafkaSettings(bootstrap_servers="h:1"), 3)
    assert conf["acks"] == "all" and conf["batch.size"] == 32768 and conf["linger.ms"] == 20
    assert conf["compression.type"] == "snappy" and conf["bootstrap.servers"] == "h:1"


def test_label_round_trips_through_headers() -> None:
    for le in stream(500, seed=12, bot_session_probability=0.3):
        assert label_from_headers(le.label_headers()) == (le.is_fraud, le.scenario)
    assert label_from_headers(None) is None
    assert label_from_headers([(LABEL_HEADER, b"not json")]) is None
