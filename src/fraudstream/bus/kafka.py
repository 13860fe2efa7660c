"""The Kafka backend of the bus, on confluent-kafka (librdkafka).

Producers are idempotent with ``acks=all``; transactional producers follow
librdkafka's exactly-once pattern (``init_transactions`` when created,
``send_offsets_to_transaction`` with the consumer's group metadata, commit or
abort). Keys are partitioned with ``consistent_random`` (CRC-32), the same
mapping as :class:`~fraudstream.bus.memory.MemoryBus`. Every librdkafka error is
mapped onto the bus error tree by :func:`~fraudstream.bus.kafka_errors.map_kafka_error`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka import Producer as _RdProducer
from confluent_kafka import TopicPartition as _RdTopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from fraudstream.bus.base import Consumer, TopicPartition
from fraudstream.bus.kafka_consumer import KafkaConsumer
from fraudstream.bus.kafka_errors import map_kafka_error
from fraudstream.bus.kafka_probe import quiet_config
from fraudstream.bus.partitioner import KAFKA_PARTITIONER
from fraudstream.errors import BusError, FatalBusError
from fraudstream.settings import KafkaSettings

if TYPE_CHECKING:
    from fraudstream.settings import Settings

logger = logging.getLogger(__name__)

__all__ = [
    "KafkaBus",
    "KafkaConsumer",
    "KafkaProducer",
    "KafkaTransactionalProducer",
    "bus_from_settings",
]


class KafkaBus:
    """Producers, consumers and topic administration on one Kafka cluster.

    Example:
        >>> from fraudstream.settings import KafkaSettings
        >>> bus = KafkaBus(KafkaSettings(bootstrap_servers="127.0.0.1:9092"))  # doctest: +SKIP
        >>> bus.create_topics({"transactions": 6})  # doctest: +SKIP
    """

    def __init__(self, settings: KafkaSettings, *, timeout_s: float = 30.0) -> None:
        self.settings = settings
        self.timeout_s = timeout_s
        self._admin: AdminClient | None = None

    def base_config(self) -> dict[str, Any]:
        conf = quiet_config(self.settings.bootstrap_servers)
        conf["client.id"] = self.settings.client_id
        return conf

    @property
    def admin(self) -> AdminClient:
        if self._admin is None:
            self._admin = AdminClient(self.base_config())
        return self._admin

    def create_topics(
        self, partitions: Mapping[str, int], *, compacted: Iterable[str] = ()
    ) -> None:
        """Create missing topics; existing ones are left as they are (idempotent)."""
        compacted = set(compacted)
        rf = self.settings.topic_replication_factor
        new = [
            NewTopic(
                name,
                num_partitions=count,
                replication_factor=rf,
                config={"cleanup.policy": "compact"} if name in compacted else {},
            )
            for name, count in partitions.items()
        ]
        if not new:
            return
        futures = self.admin.create_topics(new, operation_timeout=self.timeout_s)
        for name, fut in futures.items():
            try:
                fut.result(timeout=self.timeout_s)
                logger.info("created topic %s (%d partitions)", name, partitions[name])
            except KafkaException as exc:
                if exc.args and exc.args[0].code() == KafkaError.TOPIC_ALREADY_EXISTS:
                    continue
                raise map_kafka_error(exc, f"create topic {name}") from exc

    def list_topics(self) -> dict[str, int]:
        """Every non-internal topic with its partition count."""
        try:
            meta = self.admin.list_topics(timeout=self.timeout_s)
        except KafkaException as exc:
            raise map_kafka_error(exc, "list topics") from exc
        return {
            name: len(t.partitions)
            for name, t in sorted(meta.topics.items())
            if not name.startswith("__")
        }

    def partitions_for(self, topic: str) -> int:
        try:
            meta = self.admin.list_topics(topic, timeout=self.timeout_s)
        except KafkaException as exc:
            raise map_kafka_error(exc, f"metadata of {topic}") from exc
        t = meta.topics.get(topic)
        if t is None or t.error is not None:
            raise BusError(f"unknown topic {topic!r}: {t.error if t else 'missing'}")
        return len(t.partitions)

    def producer(self) -> KafkaProducer:
        return KafkaProducer(self._producer_config())

    def transactional_producer(self, transactional_id: str) -> KafkaTransactionalProducer:
        """A transactional producer, initialised (fencing older ones with this id)."""
        conf = self._producer_config()
        conf["transactional.id"] = transactional_id
        conf["transaction.timeout.ms"] = self.settings.transaction_timeout_ms
        # The coordinator answers CONCURRENT_TRANSACTIONS to the next transaction's
        # AddPartitions/AddOffsets while it still writes the previous commit's markers
        # (a few ms); librdkafka's default 100 ms retry backoff then stalls the loop.
        conf["retry.backoff.ms"] = 5
        return KafkaTransactionalProducer(conf, timeout_s=self.timeout_s)

    def _producer_config(self) -> dict[str, Any]:
        conf = self.base_config()
        conf.update(
            {
                "acks": "all",
                "enable.idempotence": True,
                "linger.ms": self.settings.linger_ms,
                "batch.size": self.settings.batch_size_bytes,
                "compression.type": self.settings.compression_type,
                "partitioner": KAFKA_PARTITIONER,
            }
        )
        return conf

    def consumer(
        self, group_id: str, *, read_committed: bool = True, auto_offset_reset: str = "earliest"
    ) -> KafkaConsumer:
        conf = self.base_config()
        conf.update(
            {
                "group.id": group_id,
                "isolation.level": "read_committed" if read_committed else "read_uncommitted",
                "enable.auto.commit": False,
                "auto.offset.reset": auto_offset_reset,
                "partition.assignment.strategy": "cooperative-sticky",
                "session.timeout.ms": self.settings.session_timeout_ms,
                "enable.partition.eof": False,
            }
        )
        return KafkaConsumer(conf, timeout_s=self.timeout_s)

    def close(self) -> None:
        self._admin = None


def _rd_offsets(offsets: Mapping[TopicPartition, int]) -> list[_RdTopicPartition]:
    return [_RdTopicPartition(tp.topic, tp.partition, off) for tp, off in offsets.items()]


class KafkaProducer:
    """An idempotent producer; delivery failures surface on the next ``flush``.

    Example:
        >>> p = KafkaBus(KafkaSettings()).producer()  # doctest: +SKIP
        >>> p.produce("transactions", b"{}", key=b"card-1"); p.flush()  # doctest: +SKIP
        0
    """

    # Serve queued callbacks (failed deliveries, errors) every this many records.
    POLL_EVERY = 512

    def __init__(self, conf: dict[str, Any]) -> None:
        self._fatal_error: KafkaError | None = None
        # Delivery reports for failures only, through one producer-wide callback: a
        # Python callback per delivered record (plus a poll per produce) cost more CPU
        # than the produce itself on the API's ingest path. A failure is still
        # reported, by the next poll/flush, exactly as before.
        self._p = _RdProducer(
            {
                **conf,
                "error_cb": self._on_error,
                "on_delivery": self._on_delivery,
                "delivery.report.only.error": True,
            }
        )
        self._failures: list[KafkaError] = []
        self._unpolled = 0

    def _on_error(self, err: KafkaError) -> None:
        if err.fatal():
            self._fatal_error = err
        logger.debug("librdkafka: %s", err)

    def _produce_error(self, exc: KafkaException, topic: str) -> BusError:
        """A produce refused with a bare ``_FATAL`` carries the real cause elsewhere
        (fenced, say): fetch it from the error callback so the loop acts on it."""
        err = exc.args[0] if exc.args else None
        if isinstance(err, KafkaError) and err.code() == KafkaError._FATAL:
            try:
                self._p.poll(0)  # serves the error callback with the fatal error
            except KafkaException as polled:
                # Some librdkafka builds raise the fatal error from poll() instead
                # of (or besides) handing it to the error callback.
                first = polled.args[0] if polled.args else None
                if isinstance(first, KafkaError) and first.fatal():
                    self._fatal_error = self._fatal_error or first
            cause = self._fatal_error
            what = f"produce to {topic}"
            return map_kafka_error(cause, what) if cause else FatalBusError(f"{what}: {err}")
        return map_kafka_error(exc, f"produce to {topic}")

    def _on_delivery(self, err: KafkaError | None, _msg: object) -> None:
        if err is not None:
            self._failures.append(err)

    def produce(
        self,
        topic: str,
        value: bytes | None,
        key: bytes | None = None,
        *,
        partition: int | None = None,
        headers: Sequence[tuple[str, bytes]] | None = None,
        timestamp_ms: int | None = None,
    ) -> None:
        kwargs: dict[str, Any] = {}
        if partition is not None:
            kwargs["partition"] = partition
        if headers:
            kwargs["headers"] = list(headers)
        if timestamp_ms is not None:
            kwargs["timestamp"] = timestamp_ms
        while True:
            try:
                self._p.produce(topic, value, key, **kwargs)
                break
            except BufferError:
                self._p.poll(0.05)  # local queue full: serve delivery reports, retry
            except KafkaException as exc:
                raise self._produce_error(exc, topic) from exc
        self._unpolled += 1
        if self._unpolled >= self.POLL_EVERY:
            self._unpolled = 0
            self._p.poll(0)

    def flush(self, timeout_s: float = 30.0) -> int:
        pending: int = self._p.flush(timeout_s)
        if self._failures:
            first, n = self._failures[0], len(self._failures)
            self._failures.clear()
            raise map_kafka_error(first, f"{n} record(s) not delivered")
        return pending

    def close(self) -> None:
        self._p.flush(10.0)


class KafkaTransactionalProducer(KafkaProducer):
    """Exactly-once writes: records and consumer offsets commit together.

    Example:
        >>> tp = KafkaBus(KafkaSettings()).transactional_producer("worker-0")  # doctest: +SKIP
        >>> tp.begin(); tp.produce("fraud-scores", b"..."); tp.commit()  # doctest: +SKIP
    """

    def __init__(self, conf: dict[str, Any], *, timeout_s: float = 30.0) -> None:
        super().__init__(conf)
        self.timeout_s = timeout_s
        self._in_txn = False
        self._call(lambda: self._p.init_transactions(timeout_s), "init_transactions")

    def _call(self, fn: Any, what: str) -> None:
        try:
            fn()
        except KafkaException as exc:
            raise map_kafka_error(exc, what) from exc

    def produce_batch(
        self, records: Sequence[tuple[str, bytes | None, bytes | None, int | None, int | None]]
    ) -> None:
        """Produce (topic, value, key, partition, timestamp_ms) tuples inside the transaction.

        The exactly-once loop's hot path: no per-record delivery callback (a failed
        delivery fails ``commit_transaction``, which is what the loop acts on) and
        one ``poll`` per batch instead of one per record.
        """
        produce = self._p.produce
        for topic, value, key, partition, ts in records:
            kwargs: dict[str, Any] = {}
            if partition is not None:
                kwargs["partition"] = partition
            if ts is not None:
                kwargs["timestamp"] = ts
            while True:
                try:
                    produce(topic, value, key, **kwargs)
                    break
                except BufferError:
                    self._p.poll(0.05)  # local queue full: let librdkafka send, retry
                except KafkaException as exc:
                    raise self._produce_error(exc, topic) from exc
        self._p.poll(0)

    def begin(self) -> None:
        self._call(self._p.begin_transaction, "begin_transaction")
        self._in_txn = True

    def send_offsets(self, offsets: Mapping[TopicPartition, int], consumer: Consumer) -> None:
        if not isinstance(consumer, KafkaConsumer):
            raise BusError("send_offsets needs a KafkaConsumer of the same cluster")
        metadata = consumer.group_metadata()
        self._call(
            lambda: self._p.send_offsets_to_transaction(
                _rd_offsets(offsets), metadata, self.timeout_s
            ),
            "send_offsets_to_transaction",
        )

    def commit(self) -> None:
        self._call(lambda: self._p.commit_transaction(self.timeout_s), "commit_transaction")
        self._in_txn = False
        self._failures.clear()  # a committed transaction delivered everything

    def abort(self) -> None:
        self._call(lambda: self._p.abort_transaction(self.timeout_s), "abort_transaction")
        self._in_txn = False
        self._failures.clear()

    def close(self) -> None:
        # Abort an open transaction now: left open, it would hold back read_committed
        # consumers (the last stable offset) until the transaction timeout.
        if self._in_txn:
            try:
                self.abort()
            except BusError as exc:  # fenced or broker gone: nothing left to abort
                logger.warning("abort on close failed: %s", exc)
        self._p.flush(0)


def bus_from_settings(settings: Settings) -> KafkaBus:
    """The registry entry of ``bus="kafka"``."""
    return KafkaBus(settings.kafka)
