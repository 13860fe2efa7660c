"""Session fixtures for every tier: a real Kafka broker and a real PostgreSQL.

Fixtures (see each docstring):

- ``kafka_bootstrap`` (session) -> ``"127.0.0.1:PORT"`` of a real broker.
- ``kafka_settings`` (session) -> ``KafkaSettings`` pointing at it.
- ``kafka_bus`` (session) -> a ``KafkaBus`` on it.
- ``memory_bus`` -> a fresh ``MemoryBus``.
- ``unique_topics`` -> factory of ``TopicSettings`` with fresh names (optionally created).
- ``pg_url`` (session) -> ``postgresql+psycopg://...`` of a real PostgreSQL.
- ``pg_control`` -> a private PostgreSQL you may ``stop()`` and ``start()`` (outage tests).

Environment: ``FRAUDSTREAM_TEST_KAFKA_BOOTSTRAP`` and ``FRAUDSTREAM_TEST_PG_URL`` name
servers to use instead of starting our own. Nothing is skipped: a service that
cannot start fails the test with its log's tail.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterable, Iterator, Mapping
from typing import TYPE_CHECKING

import pytest

from fraudstream.bus.base import Bus
from fraudstream.bus.memory import MemoryBus
from fraudstream.errors import FraudstreamError
from fraudstream.settings import KafkaSettings, TopicSettings

if TYPE_CHECKING:
    from tests._services import LocalPostgres

KAFKA_ENV = "FRAUDSTREAM_TEST_KAFKA_BOOTSTRAP"
PG_ENV = "FRAUDSTREAM_TEST_PG_URL"

# TopicSettings fields that hold a topic name (each has a "<field>_partitions" twin).
TOPIC_FIELDS = (
    "transactions",
    "scores",
    "alerts",
    "dead_letter",
    "feedback",
    "user_events",
    "user_events_scored",
)


@pytest.fixture(scope="session")
def kafka_bootstrap(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real Kafka broker: ``$FRAUDSTREAM_TEST_KAFKA_BOOTSTRAP``, or one started here.

    The broker started here is the product's own launcher (Kafka 4.x jars from Maven
    Central, KRaft, 127.0.0.1, free ports, a temp data dir); it stops at session end.
    """
    from fraudstream.bus.kafka_probe import probe
    from fraudstream.bus.local_kafka import LocalKafka, free_port

    external = os.environ.get(KAFKA_ENV)
    if external:
        reason = probe(external, wait_transactions=True, timeout_s=30.0)
        if reason:
            pytest.fail(f"{KAFKA_ENV}={external} does not answer: {reason}", pytrace=False)
        yield external
        return
    port = free_port()
    controller_port = free_port()
    while controller_port == port:
        controller_port = free_port()
    defaults = KafkaSettings()
    kafka = LocalKafka(
        tmp_path_factory.mktemp("kafka"),
        port=port,
        controller_port=controller_port,
        version=defaults.kafka_version,
        cache_dir=defaults.local_cache_dir,
        heap_mb=defaults.local_heap_mb,
    )
    try:
        kafka.start(timeout_s=240.0)
    except FraudstreamError as exc:
        kafka.stop(timeout_s=10.0)
        pytest.fail(f"the local Kafka broker did not start: {exc.message}", pytrace=False)
    yield kafka.bootstrap
    kafka.stop(timeout_s=30.0)


@pytest.fixture(scope="session")
def kafka_settings(kafka_bootstrap: str) -> KafkaSettings:
    """``KafkaSettings`` for the test broker (short linger so tests stay quick)."""
    return KafkaSettings(bootstrap_servers=kafka_bootstrap, linger_ms=1)


@pytest.fixture(scope="session")
def kafka_bus(kafka_settings: KafkaSettings) -> Iterator[Bus]:
    """A ``KafkaBus`` on the test broker."""
    from fraudstream.bus.kafka import KafkaBus

    bus = KafkaBus(kafka_settings)
    yield bus
    bus.close()


@pytest.fixture
def memory_bus() -> MemoryBus:
    """A fresh, empty in-process bus."""
    return MemoryBus()


class TopicFactory:
    """Fresh topic names per test, so tests sharing one broker never collide.

    ``unique_topics()`` returns a ``TopicSettings`` whose seven names carry a unique
    suffix; with a ``bus`` it also creates them (partition counts from the
    ``TopicSettings`` defaults, overridden by ``partitions`` keyed by field name,
    e.g. ``{"transactions": 2}``). ``unique_topics.name("changelog")`` gives one
    more unique name.
    """

    def __call__(
        self,
        bus: Bus | None = None,
        *,
        partitions: Mapping[str, int] | None = None,
        compacted: Iterable[str] = (),
    ) -> TopicSettings:
        unknown = set(partitions or {}) - set(TOPIC_FIELDS)
        if unknown:
            raise ValueError(f"unknown topic fields {sorted(unknown)}; use {TOPIC_FIELDS}")
        base = TopicSettings()
        suffix = uuid.uuid4().hex[:10]
        values: dict[str, object] = {f: f"{getattr(base, f)}-{suffix}" for f in TOPIC_FIELDS}
        for f, count in (partitions or {}).items():
            values[f"{f}_partitions"] = count
        topics = TopicSettings.model_validate(values)
        if bus is not None:
            bus.create_topics(topics.partition_counts(), compacted=compacted)
        return topics

    def name(self, prefix: str = "topic") -> str:
        return f"{prefix}-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def unique_topics() -> TopicFactory:
    """A :class:`TopicFactory`: fresh, collision-free topic names for this test."""
    return TopicFactory()


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """SQLAlchemy URL of a real PostgreSQL: ``$FRAUDSTREAM_TEST_PG_URL`` or a temp cluster."""
    external = os.environ.get(PG_ENV)
    if external:
        yield external
        return
    from tests._services import LocalPostgres

    try:
        pg = LocalPostgres()
        pg.start()
    except RuntimeError as exc:
        pytest.fail(f"PostgreSQL did not start: {exc}", pytrace=False)
    yield pg.url
    pg.destroy()


@pytest.fixture
def pg_control() -> Iterator[LocalPostgres]:
    """A private PostgreSQL cluster (``.url``, ``.stop()``, ``.start()``, ``.running``).

    Separate from ``pg_url`` so an outage test cannot break the tests after it.
    """
    from tests._services import LocalPostgres

    try:
        pg = LocalPostgres()
        pg.start()
    except RuntimeError as exc:
        pytest.fail(f"PostgreSQL did not start: {exc}", pytrace=False)
    yield pg
    pg.destroy()
