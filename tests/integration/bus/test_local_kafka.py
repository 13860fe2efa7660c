"""The local broker launcher and the topic commands, against real brokers."""

from __future__ import annotations

from pathlib import Path

import pytest
from confluent_kafka.admin import AdminClient
from typer.testing import CliRunner

from fraudstream.bus import local_kafka
from fraudstream.bus.kafka import KafkaBus
from fraudstream.bus.kafka_probe import probe
from fraudstream.bus.local_kafka import LocalKafka, free_port
from fraudstream.cli import app
from fraudstream.errors import BusError
from fraudstream.settings import KafkaSettings
from tests.conftest import TopicFactory
from tests.integration.bus.helpers import consume

pytestmark = pytest.mark.integration


def test_session_broker_really_answers(kafka_bootstrap: str) -> None:
    meta = AdminClient({"bootstrap.servers": kafka_bootstrap}).list_topics(timeout=10)
    assert len(meta.brokers) == 1
    assert probe(kafka_bootstrap, wait_transactions=True, timeout_s=10) == ""


def test_auto_create_is_off(kafka_settings: KafkaSettings, unique_topics: TopicFactory) -> None:
    bus = KafkaBus(kafka_settings)
    name = unique_topics.name("never-created")
    c = bus.consumer(unique_topics.name("g"))
    c.subscribe([name])
    with pytest.raises(BusError, match="nknown topic"):
        for _ in range(20):
            c.poll_batch(10, 0.5)
    c.close()
    assert name not in bus.list_topics()


def test_topics_create_is_idempotent_with_configured_counts(
    kafka_bootstrap: str, unique_topics: TopicFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    topics = unique_topics()  # fresh names, not created yet
    fields = ["transactions", "scores", "alerts", "dead_letter", "feedback", "user_events",
              "user_events_scored"]  # fmt: skip
    for f in fields:
        monkeypatch.setenv(f"FRAUDSTREAM_TOPICS__{f.upper()}", getattr(topics, f))
    monkeypatch.setenv("FRAUDSTREAM_TOPICS__ALERTS_PARTITIONS", "2")
    runner = CliRunner()
    args = ["topics", "create", "--bootstrap", kafka_bootstrap, "-p", f"{topics.feedback}=2"]
    first = runner.invoke(app, args)
    assert first.exit_code == 0, first.output
    second = runner.invoke(app, args)  # again: nothing changes, no error
    assert second.exit_code == 0, second.output
    expected = topics.partition_counts() | {topics.alerts: 2, topics.feedback: 2}
    assert KafkaBus(KafkaSettings(bootstrap_servers=kafka_bootstrap)).list_topics().items() >= (
        expected.items()
    )
    assert expected[topics.transactions] == 6 and expected[topics.dead_letter] == 1
    assert f"{topics.alerts}\t2" in second.output


def test_topics_create_rejects_a_bad_partition_option(kafka_bootstrap: str) -> None:
    result = CliRunner().invoke(
        app, ["topics", "create", "--bootstrap", kafka_bootstrap, "-p", "transactions=zero"]
    )
    assert result.exit_code != 0


@pytest.mark.slow
def test_broker_restarts_with_its_data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """start -> write -> stop (SIGTERM) -> status -> start again: the data survived.

    The cluster id starts with "-" on purpose: one random id in 64 does, and the storage
    tool once read such an id as an option and refused to format (a CI failure).
    """
    monkeypatch.setattr(local_kafka, "new_cluster_id", lambda: "-" + "A" * 21)
    kafka = LocalKafka(tmp_path / "kafka", port=free_port(), controller_port=free_port())
    try:
        bootstrap = kafka.start(timeout_s=240, wait_transactions=False)
        assert kafka.status().running and kafka.status().bootstrap == bootstrap
        bus = KafkaBus(KafkaSettings(bootstrap_servers=bootstrap))
        bus.create_topics({"persisted": 2})
        p = bus.producer()
        p.produce("persisted", b"survives", key=b"k")
        assert p.flush(30) == 0
        assert kafka.stop(timeout_s=60)
        assert not kafka.status().running and not kafka.pid_file.exists()
        assert kafka.stop() is False  # stopping a stopped broker is a no-op
        kafka.start(timeout_s=240, wait_transactions=False)
        assert bus.partitions_for("persisted") == 2
        c = bus.consumer("g")
        c.subscribe(["persisted"])
        assert [m.value for m in consume(c, 1)] == [b"survives"]
        c.close()
    finally:
        kafka.stop(timeout_s=30)
    assert "started" in kafka.log_tail(200) or kafka.log_file.exists()
