"""The user-events route on a real broker, scored by the click-stream graph model.

A worker scores part of the stream and stops; a new incarnation of it restores
the live graph from the changelog and scores the rest. Every event is scored
exactly once, by the graph model (its registry version), and the graph rebuilt
from the committed changelog is the graph an offline replay of each partition's
events builds.
"""

from __future__ import annotations

import threading
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("torch")
pytest.importorskip("torch_geometric")

from fraudstream.bench.chaos import read_all
from fraudstream.bus.kafka import KafkaBus
from fraudstream.detect.gnn.click_graph import ClickGraphState, DictStore
from fraudstream.detect.gnn.clickstream import ClickModel, save_click_model
from fraudstream.events.registry import InProcessRegistry
from fraudstream.generate.clickstream import ClickstreamConfig, ClickstreamGenerator
from fraudstream.pipeline.service import ensure_topics, make_worker
from fraudstream.pipeline.state import changelog_topic
from fraudstream.pipeline.wiring import register_all, serde_for
from fraudstream.settings import KafkaSettings, Settings

pytestmark = pytest.mark.integration


def _model() -> ClickModel:
    import torch

    from fraudstream.detect.gnn.click_graph import NUM_FEATURES
    from fraudstream.detect.gnn.node_classifier import FraudNodeClassifier

    torch.manual_seed(3)
    return ClickModel.from_module(
        FraudNodeClassifier(NUM_FEATURES, hidden_channels=8), threshold=0.5, version="x"
    )


def test_user_events_are_scored_by_the_graph_model_exactly_once(
    kafka_bootstrap: str, unique_topics: Any, tmp_path: Path
) -> None:
    topics = unique_topics(partitions={"user_events": 2, "user_events_scored": 2})
    group = unique_topics.name("clicks")
    kafka = KafkaSettings(
        bootstrap_servers=kafka_bootstrap, linger_ms=1, session_timeout_ms=6000,
        transaction_timeout_ms=10_000,
    )  # fmt: skip
    s = Settings(bus="kafka", topics=topics, kafka=kafka, model_dir=tmp_path)
    s.pipeline = s.pipeline.model_copy(
        update={"group_id": group, "max_batch_records": 150, "detector": "amount-rule"}
    )
    version = save_click_model(_model(), tmp_path, {})
    bus = KafkaBus(s.kafka)
    ensure_topics(bus, s)
    reg = InProcessRegistry()
    register_all(reg, topics)
    enc = serde_for("user_event", topics.user_events, reg)
    cfg = ClickstreamConfig(seed=8, bot_session_probability=0.2, new_session_probability=0.05,
                            returning_user_probability=0.3, events_per_second=20.0)  # fmt: skip
    start = int(time.time() * 1000) - 3_600_000
    events = [e.event for e in ClickstreamGenerator(cfg, start_time_ms=start).take(1200)]
    producer = bus.producer()
    for e in events[:600]:
        producer.produce(topics.user_events, enc.encode(e), key=e["user_id"].encode())
    producer.flush(30)

    first = make_worker(bus, s, registry=reg)
    stop = threading.Event()
    t = threading.Thread(target=first.run, args=(stop,))
    t.start()
    deadline = time.monotonic() + 60
    while first.stats.commits < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    stop.set()
    t.join(60)
    assert first.stats.commits >= 2
    for e in events[600:]:
        producer.produce(topics.user_events, enc.encode(e), key=e["user_id"].encode())
    producer.flush(30)
    # the same worker id again: it restores the graph from the changelog and goes on
    stats = make_worker(bus, s, registry=reg).run(threading.Event(), idle_exit_s=3.0)
    assert stats.exit_reason == "idle"

    out = serde_for("scored_user_event", topics.user_events_scored, reg)
    scored = [out.decode(m.value) for m in read_all(bus, topics.user_events_scored)]
    assert Counter(r["event_id"] for r in scored) == Counter(e["event_id"] for e in events)
    assert {r["model_version"] for r in scored} == {f"click-gnn-{version}"}
    for r in scored:
        assert 0.0 <= r["fraud_score"] <= 1.0 and r["is_fraud"] == (r["fraud_score"] >= 0.5)
    assert len({round(r["fraud_score"], 9) for r in scored}) > 50  # per-session graph scores
    by_id = {e["event_id"]: e for e in events}
    assert all({k: r[k] for k in by_id[r["event_id"]]} == by_id[r["event_id"]] for r in scored)

    # the graph in the committed changelog == an offline replay of each partition's events
    per_partition: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for m in read_all(bus, topics.user_events):
        per_partition[m.partition].append(enc.decode(m.value))
    rebuilt: dict[int, dict[str, bytes]] = defaultdict(dict)
    for m in read_all(bus, changelog_topic(group, topics.user_events)):
        if m.value is None:
            rebuilt[m.partition].pop(m.key.decode(), None)
        else:
            rebuilt[m.partition][m.key.decode()] = m.value
    assert len(per_partition) == 2
    for p, evs in per_partition.items():
        replay = DictStore()
        state = ClickGraphState(replay, _model().limits)
        state.update(evs)
        state.flush()
        assert rebuilt[p] == dict(replay)
