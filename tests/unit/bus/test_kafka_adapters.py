"""Pure logic of the Kafka adapters: error mapping, config, CLI parsing (no broker)."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer
from confluent_kafka import KafkaError, KafkaException

from fraudstream.bus._memory_log import sticky_assignment
from fraudstream.bus.base import TopicPartition
from fraudstream.bus.commands import broker_port
from fraudstream.bus.kafka_dist import resolve_classpath
from fraudstream.bus.kafka_errors import map_kafka_error
from fraudstream.bus.local_kafka import LocalKafka, free_port
from fraudstream.errors import (
    AbortableTransactionError,
    BusError,
    ConfigError,
    FatalBusError,
    ProducerFencedError,
    RetriableBusError,
)
from fraudstream.settings import KafkaSettings


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (KafkaError(KafkaError._FENCED, "fenced", fatal=True), ProducerFencedError),
        (KafkaError(KafkaError.PRODUCER_FENCED, "fenced"), ProducerFencedError),
        (KafkaError(KafkaError._STATE, "bad", fatal=True), FatalBusError),
        (
            KafkaError(KafkaError._TIMED_OUT, "slow", txn_requires_abort=True),
            AbortableTransactionError,
        ),
        (KafkaError(KafkaError._TIMED_OUT, "slow", retriable=True), RetriableBusError),
        (KafkaError(KafkaError.UNKNOWN_TOPIC_OR_PART, "nope"), BusError),
    ],
)
def test_kafka_errors_map_onto_the_bus_tree(error: KafkaError, expected: type) -> None:
    mapped = map_kafka_error(KafkaException(error), "op")
    assert type(mapped) is expected
    assert mapped.message.startswith("op: ")


def test_non_kafka_exception_maps_to_plain_bus_error() -> None:
    assert type(map_kafka_error(RuntimeError("x"), "op")) is BusError


def test_broker_port_is_read_from_bootstrap_servers() -> None:
    assert broker_port(KafkaSettings(bootstrap_servers="127.0.0.1:19092,other:1")) == 19092
    with pytest.raises(typer.BadParameter):
        broker_port(KafkaSettings(bootstrap_servers="localhost"))


def test_only_kafka_4_is_accepted(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"4\.x"):
        resolve_classpath(tmp_path, "3.7.0")


def test_server_properties_enable_single_node_transactions(tmp_path: Path) -> None:
    kafka = LocalKafka(tmp_path, port=19092, controller_port=19093)
    props = dict(
        line.split("=", 1) for line in kafka._write_config().read_text().splitlines() if line
    )
    assert props["process.roles"] == "broker,controller"
    assert props["listeners"] == "PLAINTEXT://127.0.0.1:19092,CONTROLLER://127.0.0.1:19093"
    assert props["auto.create.topics.enable"] == "false"
    for key in ("offsets.topic.replication.factor", "transaction.state.log.replication.factor",
                "transaction.state.log.min.isr"):  # fmt: skip
        assert props[key] == "1"
    assert kafka.status().running is False and kafka.pid() is None


def test_launcher_refuses_equal_ports(tmp_path: Path) -> None:
    port = free_port()
    with pytest.raises(ConfigError):
        LocalKafka(tmp_path, port=port, controller_port=port)


def test_stale_pid_file_is_not_a_running_broker(tmp_path: Path) -> None:
    kafka = LocalKafka(tmp_path, port=19092, controller_port=19093)
    kafka.pid_file.write_text("1\n")  # pid 1 is alive but is not Kafka
    assert kafka.pid() is None and not kafka.pid_file.exists()
    assert kafka.stop() is False


def test_sticky_assignment_balances_and_moves_little() -> None:
    subs = {1: frozenset({"t"}), 2: frozenset({"t"})}
    first = sticky_assignment(subs, {"t": 6}, {})
    assert sorted(len(v) for v in first.values()) == [3, 3]
    subs3 = {**subs, 3: frozenset({"t"})}
    second = sticky_assignment(subs3, {"t": 6}, first)
    assert sorted(len(v) for v in second.values()) == [2, 2, 2]
    moved = sum(1 for m in (1, 2) for tp in first[m] if tp not in second[m])
    assert moved == 2  # only what the newcomer needs
    everything = set().union(*second.values())
    assert everything == {TopicPartition("t", p) for p in range(6)}


def test_cluster_ids_never_start_with_a_dash_and_decode_to_16_bytes() -> None:
    import base64

    from fraudstream.bus.local_kafka import new_cluster_id

    ids = {new_cluster_id() for _ in range(2000)}
    assert len(ids) == 2000
    for cid in ids:
        assert not cid.startswith("-")
        assert len(base64.urlsafe_b64decode(cid + "==")) == 16
