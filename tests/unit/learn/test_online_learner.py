"""The feedback learner on the memory bus + SQLite: versions increment, scores move."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from fraudstream.bus.memory import MemoryBus
from fraudstream.detect.champion import ChampionWatcher
from fraudstream.detect.models.ensemble import WeightedEnsemble
from fraudstream.detect.models.online import OnlineLogisticModel
from fraudstream.detect.registry import ModelRegistry
from fraudstream.events.registry import InProcessRegistry
from fraudstream.events.serde import AvroSerde
from fraudstream.features.contract import FEATURE_CONTRACT_VERSION, FEATURE_NAMES
from fraudstream.learn.online import DbFeatureLookup, OnlineLearner
from fraudstream.settings import DatabaseSettings, OnlineLearningSettings
from fraudstream.store.db import make_engine
from fraudstream.store.migrate import upgrade
from fraudstream.store.repository import SinkBatch, write_batch

F = len(FEATURE_NAMES)
RNG = np.random.default_rng(7)


def _cluster(center: float, n: int) -> np.ndarray:
    x = RNG.normal(0.0, 1.0, size=(n, F))
    x[:, :5] += center  # "similar transactions": the same region of feature space
    return x


def _warm_model() -> OnlineLogisticModel:
    x = np.vstack([_cluster(0.0, 400), _cluster(3.0, 40)])
    y = np.r_[np.zeros(400), np.ones(40)].astype(int)
    return OnlineLogisticModel(FEATURE_NAMES, positive_weight=5.0).fit(x, y, epochs=2)


class Env:
    def __init__(self, tmp: Path, settings: OnlineLearningSettings) -> None:
        self.engine = make_engine(DatabaseSettings(url=f"sqlite:///{tmp / 'db.sqlite'}"))
        upgrade(self.engine)
        self.bus = MemoryBus()
        self.bus.create_topics({"feedback": 2})
        self.serde = AvroSerde("feedback", InProcessRegistry(), "feedback-value")
        self.registry = ModelRegistry(tmp / "models")
        consumer = self.bus.consumer("learner", read_committed=True)
        consumer.subscribe(["feedback"])
        self.learner = OnlineLearner(
            consumer, lambda m: self.serde.decode(m.value), DbFeatureLookup(self.engine),
            self.registry, settings,
        )  # fmt: skip
        self.n = 0

    def scored(self, x: np.ndarray) -> list[str]:
        """Store scores rows with feature snapshots, as the sink does."""
        ids, rows = [], []
        for row in x:
            self.n += 1
            tx = f"t{self.n}"
            ids.append(tx)
            rows.append({
                "transaction_id": tx, "card_id": "c", "amount": 1.0, "fraud_score": 0.1,
                "risk_level": "LOW", "action": "ALLOW", "reasons": [], "model_version": "m",
                "event_time": None, "scored_at": datetime.now(UTC),
                "features": dict(zip(FEATURE_NAMES, row.tolist(), strict=True)),
            })  # fmt: skip
        write_batch(self.engine, SinkBatch(scores=rows))
        return ids

    def verdicts(self, ids: list[str], label: str) -> None:
        prod = self.bus.producer()
        for tx in ids:
            rec = {"transaction_id": tx, "label": label, "analyst": "ann", "comment": None,
                   "created_at": 1_700_000_000_000}  # fmt: skip
            prod.produce("feedback", self.serde.encode(rec), key=tx.encode())

    def committed(self) -> int:
        c = self.bus.consumer("learner")
        from fraudstream.bus.base import TopicPartition

        got = c.committed([TopicPartition("feedback", p) for p in (0, 1)])
        return sum(max(v, 0) for v in got.values())


def _drain(env: Env, max_updates: int) -> None:
    env.learner.run(threading.Event(), idle_exit_s=0.0, max_updates=max_updates)


def test_burst_of_verdicts_increments_version_and_moves_scores(tmp_path: Path) -> None:
    env = Env(tmp_path, OnlineLearningSettings(batch_size=40, max_wait_s=1e9))
    v1 = env.registry.register(
        _warm_model(), {"feature_contract_version": FEATURE_CONTRACT_VERSION}
    )
    env.registry.promote(v1)
    watcher = ChampionWatcher(env.registry, check_interval_s=0.0)
    probe = _cluster(1.5, 200)  # a pattern the warm model finds ambiguous
    before = watcher.current().predict(probe)  # type: ignore[union-attr]

    env.verdicts(env.scored(_cluster(1.5, 80)), "fraud")
    _drain(env, max_updates=2)
    assert env.learner.stats.versions == ["v0002", "v0003"]
    assert env.registry.champion_version() == "v0003"
    meta = env.registry.metadata("v0003")
    assert meta["parent_version"] == "v0002" and meta["online_update"]["fraud"] == 40
    after_fraud = watcher.current().predict(probe)  # type: ignore[union-attr]
    assert watcher.current().version != "" and after_fraud.mean() > before.mean() + 0.05  # type: ignore[union-attr]
    assert env.committed() == 80  # everything that is inside v0003

    env.verdicts(env.scored(_cluster(1.5, 80)), "legitimate")
    _drain(env, max_updates=4)
    assert env.registry.champion_version() == "v0005"
    after_legit = watcher.current().predict(probe)  # type: ignore[union-attr]
    assert after_legit.mean() < after_fraud.mean() - 0.05


def test_cold_start_holds_one_class_and_commits_only_when_saved(tmp_path: Path) -> None:
    env = Env(tmp_path, OnlineLearningSettings(batch_size=10, max_wait_s=1e9))
    env.verdicts(env.scored(_cluster(3.0, 10)), "fraud")
    _drain(env, max_updates=1)
    assert env.learner.stats.updates == 0 and env.registry.versions() == []
    assert env.committed() == 0  # held rows are re-read after a crash
    env.verdicts(env.scored(_cluster(0.0, 10)), "legitimate")
    _drain(env, max_updates=1)
    assert env.registry.versions() == ["v0001"] and env.registry.champion_version() == "v0001"
    assert env.registry.metadata("v0001")["online_update"]["rows"] == 20
    assert env.committed() == 20
    model = env.registry.load("v0001")
    assert model.predict(_cluster(3.0, 50)).mean() > model.predict(_cluster(0.0, 50)).mean()


def test_ensemble_champion_updates_its_online_member_only(tmp_path: Path) -> None:
    env = Env(tmp_path, OnlineLearningSettings(batch_size=30, max_wait_s=1e9))
    x = np.vstack([_cluster(0.0, 300), _cluster(3.0, 60)])
    y = np.r_[np.zeros(300), np.ones(60)].astype(int)
    frozen = OnlineLogisticModel(FEATURE_NAMES, seed=1).fit(x, y, epochs=1)
    ens = WeightedEnsemble(
        {"online": _warm_model(), "other": frozen}, {"online": 0.5, "other": 0.5},
        calibration="platt",
    ).calibrate(x, y)  # fmt: skip
    v1 = env.registry.register(ens, {"feature_contract_version": FEATURE_CONTRACT_VERSION})
    env.registry.promote(v1)
    probe = _cluster(1.5, 100)
    before = ens.predict(probe)
    frozen_version = frozen.version
    env.verdicts(env.scored(_cluster(1.5, 30)), "fraud")
    _drain(env, max_updates=1)
    new = env.registry.load(env.registry.champion_version() or "")
    assert isinstance(new, WeightedEnsemble) and env.registry.champion_version() == "v0002"
    assert new.members["other"].version == frozen_version
    assert new.predict(probe).mean() > before.mean()


def test_rollback_is_not_overridden_and_missing_features_are_waited_for(tmp_path: Path) -> None:
    t = [0.0]
    env = Env(tmp_path, OnlineLearningSettings(batch_size=5, max_wait_s=1e9, feature_wait_s=10))
    env.learner._clock = lambda: t[0]
    v1 = env.registry.register(
        _warm_model(), {"feature_contract_version": FEATURE_CONTRACT_VERSION}
    )
    env.registry.promote(v1)
    env.verdicts(["ghost1", "ghost2", "ghost3", "ghost4", "ghost5"], "fraud")
    env.learner.step(timeout_s=0.01)
    assert env.learner.stats.updates == 0 and env.committed() == 0  # waiting for the sink
    t[0] = 11.0
    env.learner.flush()
    assert env.learner.stats.no_features == 5 and env.committed() == 5
    env.verdicts(env.scored(_cluster(1.5, 5)), "fraud")
    env.learner.step(timeout_s=0.01)
    assert env.registry.champion_version() == "v0002"
    env.registry.rollback()  # an operator restores v0001
    env.verdicts(env.scored(_cluster(1.5, 5)), "fraud")
    env.learner.step(timeout_s=0.01)
    assert env.registry.metadata("v0003")["parent_version"] == "v0001"  # rebased
    assert env.registry.champion_version() == "v0003"


def test_invalid_feedback_is_counted_not_fatal(tmp_path: Path) -> None:
    env = Env(tmp_path, OnlineLearningSettings(batch_size=5))
    env.bus.producer().produce("feedback", b"garbage", key=b"k")
    assert env.learner.step(timeout_s=0.01) == 1
    assert env.learner.stats.invalid == 1 and env.committed() == 1


def test_consumer_lag_is_exported(tmp_path: Path) -> None:
    from prometheus_client import REGISTRY

    env = Env(tmp_path, OnlineLearningSettings(batch_size=10, max_wait_s=1e9))
    env.verdicts([f"x{i}" for i in range(30)], "fraud")
    env.learner.lag_interval_s = 0.0
    env.learner.step(timeout_s=0.01)
    lag = sum(
        REGISTRY.get_sample_value(
            "fraudstream_pipeline_consumer_lag",
            {"worker": "learner", "topic": "feedback", "partition": str(p)},
        )
        or 0.0
        for p in (0, 1)
    )
    assert lag == 20  # 30 verdicts, 10 polled (one batch)
