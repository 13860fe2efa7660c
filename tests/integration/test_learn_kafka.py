"""The feedback learner on the real broker and PostgreSQL: offsets only after a saved version."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from fraudstream.bus.base import Bus, TopicPartition
from fraudstream.detect.models.online import OnlineLogisticModel
from fraudstream.detect.registry import ModelRegistry
from fraudstream.events.registry import InProcessRegistry
from fraudstream.features.contract import FEATURE_CONTRACT_VERSION, FEATURE_NAMES
from fraudstream.learn.online_cmd import build_learner
from fraudstream.pipeline.wiring import register_all, serde_for
from fraudstream.settings import (
    DatabaseSettings,
    KafkaSettings,
    OnlineLearningSettings,
    Settings,
    TopicSettings,
)
from fraudstream.store.db import make_engine
from fraudstream.store.migrate import upgrade
from fraudstream.store.repository import SinkBatch, write_batch
from tests.integration._db import fresh_pg_database

pytestmark = pytest.mark.integration
F = len(FEATURE_NAMES)


def _store_scores(url: str, x: np.ndarray, prefix: str) -> list[str]:
    engine = make_engine(DatabaseSettings(url=url))
    upgrade(engine)
    ids = [f"{prefix}{i}" for i in range(x.shape[0])]
    rows = [
        {"transaction_id": tx, "card_id": "c", "amount": 1.0, "fraud_score": 0.5,
         "risk_level": "MEDIUM", "action": "ALLOW", "reasons": [], "model_version": "m",
         "event_time": None, "scored_at": datetime.now(UTC),
         "features": dict(zip(FEATURE_NAMES, row.tolist(), strict=True))}
        for tx, row in zip(ids, x, strict=True)
    ]  # fmt: skip
    write_batch(engine, SinkBatch(scores=rows))
    engine.dispose()
    return ids


def _send(bus: Bus, topics: TopicSettings, ids: list[str], label: str) -> None:
    reg = InProcessRegistry()
    register_all(reg, topics)
    serde = serde_for("feedback", topics.feedback, reg)
    producer = bus.producer()
    for tx in ids:
        rec = {"transaction_id": tx, "label": label, "analyst": "ann", "comment": None,
               "created_at": 1_700_000_000_000}  # fmt: skip
        producer.produce(topics.feedback, serde.encode(rec), key=tx.encode())
    assert producer.flush(10.0) == 0


def _committed(bus: Bus, group: str, topics: TopicSettings) -> int:
    c = bus.consumer(group)
    parts = [TopicPartition(topics.feedback, p) for p in range(topics.feedback_partitions)]
    got = sum(max(v, 0) for v in c.committed(parts).values())
    c.close()
    return got


def _settings(kafka: KafkaSettings, topics: TopicSettings, url: str, tmp: Path) -> Settings:
    return Settings(
        bus="kafka",
        kafka=kafka,
        topics=topics,
        database=DatabaseSettings(url=url),
        model_dir=tmp / "models",
        online_learning=OnlineLearningSettings(
            group_id=f"learner-{uuid.uuid4().hex[:8]}", batch_size=20, max_wait_s=2.0
        ),
    )


def test_verdict_burst_on_kafka_saves_versions_and_commits_after_them(
    kafka_bus: Bus,
    kafka_settings: KafkaSettings,
    unique_topics: Callable[..., TopicSettings],
    pg_url: str,
    tmp_path: Path,
) -> None:
    rng = np.random.default_rng(0)
    topics = unique_topics(kafka_bus, partitions={"feedback": 2})
    for url in fresh_pg_database(pg_url):
        s = _settings(kafka_settings, topics, url, tmp_path)
        x0 = rng.normal(size=(400, F))
        y0 = (x0[:, 0] > 1.5).astype(int)
        warm = OnlineLogisticModel(FEATURE_NAMES, positive_weight=5.0).fit(x0, y0)
        reg = ModelRegistry(s.model_dir)
        reg.promote(reg.register(warm, {"feature_contract_version": FEATURE_CONTRACT_VERSION}))
        similar = rng.normal(size=(40, F))
        similar[:, 1] += 2.0  # a pattern the warm model has not seen as fraud
        _send(kafka_bus, topics, _store_scores(url, similar, "tx-"), "fraud")

        learner = build_learner(s, bus=kafka_bus)
        stats = learner.run(threading.Event(), idle_exit_s=5.0, max_updates=2)
        learner.close()
        assert stats.versions == ["v0002", "v0003"] and stats.applied == 40
        assert reg.champion_version() == "v0003"
        assert _committed(kafka_bus, s.online_learning.group_id, topics) == 40
        probe = rng.normal(size=(200, F))
        probe[:, 1] += 2.0
        assert reg.load("v0003").predict(probe).mean() > warm.predict(probe).mean() + 0.05


def test_a_restart_rereads_verdicts_held_by_the_one_class_guard(
    kafka_bus: Bus,
    kafka_settings: KafkaSettings,
    unique_topics: Callable[..., TopicSettings],
    pg_url: str,
    tmp_path: Path,
) -> None:
    rng = np.random.default_rng(1)
    topics = unique_topics(kafka_bus, partitions={"feedback": 1})
    for url in fresh_pg_database(pg_url):
        s = _settings(kafka_settings, topics, url, tmp_path)
        group = s.online_learning.group_id
        _send(kafka_bus, topics, _store_scores(url, rng.normal(2.0, 1.0, (10, F)), "f-"), "fraud")
        first = build_learner(s, bus=kafka_bus)  # cold start: no champion at all
        stats = first.run(threading.Event(), idle_exit_s=4.0)
        first.close()  # "crash": the held frauds are in no saved version
        assert stats.received == 10 and stats.updates == 0
        assert _committed(kafka_bus, group, topics) == 0

        _send(
            kafka_bus, topics, _store_scores(url, rng.normal(0.0, 1.0, (10, F)), "l-"), "legitimate"
        )
        second = build_learner(s, bus=kafka_bus)
        stats = second.run(threading.Event(), idle_exit_s=4.0, max_updates=1)
        second.close()
        assert stats.received == 20 and stats.updates == 1  # re-read the 10 frauds
        reg = ModelRegistry(s.model_dir)
        assert reg.champion_version() == "v0001"
        assert reg.metadata("v0001")["online_update"] | {"last_offsets": None} == {
            "rows": 20, "fraud": 10, "legitimate": 10, "n_updates": 1, "n_seen": 20,
            "last_offsets": None,
        }  # fmt: skip
        assert _committed(kafka_bus, group, topics) == 20


def test_missing_features_round_trip_through_postgres_to_the_lookup(pg_url: str) -> None:
    from fraudstream.learn.online import DbFeatureLookup

    x = np.ones((2, F))
    x[0, 3] = np.nan  # no device / no IP: window features are NaN
    for url in fresh_pg_database(pg_url):
        ids = _store_scores(url, x, "nan-")
        engine = make_engine(DatabaseSettings(url=url))
        got = DbFeatureLookup(engine).features_for(ids)
        engine.dispose()
        row = [got["nan-0"][n] for n in FEATURE_NAMES]
        assert row[3] is None or np.isnan(row[3])
        assert row[4] == 1.0 and got["nan-1"][FEATURE_NAMES[3]] == 1.0
