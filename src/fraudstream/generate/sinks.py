"""Where generated transactions go: Kafka (Avro), a JSONL file, or stdout.

Every sink takes columnar chunks (:class:`Columns` and id numbers) so the Kafka
sink can use the columnar Avro encoder; the text sinks write one JSON object per
line with ``event_time`` as epoch milliseconds.
"""

from __future__ import annotations

import logging
import queue
import sys
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import IO, Any, Protocol

import numpy as np
import orjson

from fraudstream.errors import BusError, ConfigError
from fraudstream.generate.columns import Columns, IdTables
from fraudstream.generate.encode import TransactionEncoder
from fraudstream.settings import KafkaSettings

logger = logging.getLogger(__name__)


class Sink(Protocol):
    """Takes chunks of generated events; ``close`` returns how many were not delivered."""

    def write(self, cols: Columns, raw_ids: np.ndarray) -> None: ...

    def write_many(self, chunks: Iterable[tuple[Columns, np.ndarray]]) -> None: ...

    def close(self) -> int: ...


class JsonLinesSink:
    """One JSON record per line, to a file (``path``) or a binary stream (stdout).

    Example:
        >>> import io
        >>> from fraudstream.generate.transactions import GeneratorConfig, TransactionGenerator
        >>> gen = TransactionGenerator(GeneratorConfig(seed=1, n_customers=200, n_merchants=300))
        >>> out = io.BytesIO()
        >>> sink = JsonLinesSink(gen.ids, stream=out)
        >>> for cols, ids in gen.column_batches(5):
        ...     sink.write(cols, ids)
        >>> sink.close(), len(out.getvalue().splitlines())
        (0, 5)
    """

    def __init__(self, ids: IdTables, path: Path | None = None, stream: IO[bytes] | None = None):
        from fraudstream.generate.transactions import format_ids

        self._format_ids = format_ids
        self._ids = ids
        self._own = path is not None
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._out: IO[bytes] = path.open("wb")
        else:
            self._out = stream if stream is not None else sys.stdout.buffer

    def write(self, cols: Columns, raw_ids: np.ndarray) -> None:
        records = self._ids.to_records(cols, self._format_ids(raw_ids))
        dumps = orjson.dumps
        self._out.write(b"\n".join([dumps(r) for r in records]) + b"\n")

    def write_many(self, chunks: Iterable[tuple[Columns, np.ndarray]]) -> None:
        for cols, raw_ids in chunks:
            self.write(cols, raw_ids)

    def close(self) -> int:
        self._out.flush()
        if self._own:
            self._out.close()
        return 0


class KafkaSink:
    """Avro (Confluent wire format) to a Kafka topic, keyed by ``card_id``.

    Uses librdkafka directly (the bus producer's settings: idempotent, acks=all,
    the shared partitioner) with a delivery callback that counts failures; the
    schema id comes from an :class:`~fraudstream.events.serde.AvroSerde`
    registered with the configured registry.

    Example:
        >>> sink = KafkaSink(gen.ids, KafkaSettings(), "transactions")  # doctest: +SKIP
        >>> sink.write(cols, ids); sink.close()  # doctest: +SKIP
        0
    """

    def __init__(self, ids: IdTables, kafka: KafkaSettings, topic: str) -> None:
        from confluent_kafka import Producer

        from fraudstream.bus.kafka_probe import quiet_config
        from fraudstream.bus.partitioner import KAFKA_PARTITIONER
        from fraudstream.events.contracts import TRANSACTION
        from fraudstream.events.registry import open_registry, subject_for
        from fraudstream.events.serde import AvroSerde

        serde = AvroSerde(TRANSACTION, open_registry(kafka), subject_for(topic))
        self.encoder = TransactionEncoder(ids, serde.schema_id)
        self.topic = topic
        conf: dict[str, Any] = quiet_config(kafka.bootstrap_servers)
        conf.update(
            {
                "client.id": f"{kafka.client_id}-generator",
                "acks": "all",
                "enable.idempotence": True,
                "linger.ms": max(kafka.linger_ms, 20),
                "batch.size": kafka.batch_size_bytes,
                "compression.type": kafka.compression_type,
                "partitioner": KAFKA_PARTITIONER,
                "queue.buffering.max.messages": 1_000_000,
                "queue.buffering.max.kbytes": 1_048_576,
                # Only failures call back into Python: a callback per record costs
                # more than producing it. Successes are counted at close.
                "delivery.report.only.error": True,
                "on_delivery": self._on_delivery,
            }
        )
        self.produced = 0
        self.failed = 0
        self._first_error: str | None = None
        self._producer = Producer(conf)

    def _on_delivery(self, err: Any, _msg: Any) -> None:
        if err is not None:
            self.failed += 1
            if self._first_error is None:
                self._first_error = str(err)

    def write(self, cols: Columns, raw_ids: np.ndarray) -> None:
        keys, values = self.encoder.encode(cols, raw_ids)
        self.send(keys, values)

    def write_many(self, chunks: Iterable[tuple[Columns, np.ndarray]]) -> None:
        """Write every chunk, generating and encoding in a helper thread meanwhile.

        The helper iterates ``chunks`` (the generator) and encodes; this thread
        produces. numpy releases the GIL for its array work, so the two overlap;
        chunks keep their order, so records (and each card's order) do not change.
        """
        handoff: queue.Queue[tuple[list[bytes], list[bytes]] | BaseException | None]
        handoff = queue.Queue(maxsize=4)
        stop = threading.Event()

        def offer(item: tuple[list[bytes], list[bytes]] | BaseException | None) -> bool:
            while not stop.is_set():
                try:
                    handoff.put(item, timeout=0.1)
                    return True
                except queue.Full:
                    continue
            return False

        def encode_all() -> None:
            try:
                for cols, raw_ids in chunks:
                    if not offer(self.encoder.encode(cols, raw_ids)):
                        return
                offer(None)
            except BaseException as exc:  # handed to the producing thread, which raises it
                offer(exc)

        helper = threading.Thread(target=encode_all, name="generator-encode", daemon=True)
        helper.start()
        try:
            while (item := handoff.get()) is not None:
                if isinstance(item, BaseException):
                    raise item
                self.send(*item)
        finally:
            stop.set()
            helper.join()

    def send(self, keys: list[bytes], values: list[bytes]) -> None:
        """Produce already-encoded records (used by the benchmark as well)."""
        produce, poll, topic = self._producer.produce, self._producer.poll, self.topic
        for key, value in zip(keys, values, strict=True):
            try:
                produce(topic, value, key)
            except BufferError:
                self._produce_when_room(key, value)
        self.produced += len(values)
        poll(0)
        if self.failed and self.failed >= self.produced - len(self._producer):
            # Every record that left the queue failed: the broker or topic is unusable.
            raise BusError(f"records are not delivered to {topic!r}: {self._first_error}")

    def _produce_when_room(self, key: bytes, value: bytes) -> None:
        while True:
            self._producer.poll(0.1)  # local queue full: let deliveries drain
            try:
                self._producer.produce(self.topic, value, key)
                return
            except BufferError:
                continue

    @property
    def delivered(self) -> int:
        return self.produced - self.failed - len(self._producer)

    def close(self) -> int:
        pending = int(self._producer.flush(60.0))
        if self.failed:
            logger.error("%d records not delivered: %s", self.failed, self._first_error)
        return self.failed + pending


def open_sink(
    output: str,
    ids: IdTables,
    *,
    path: Path | None = None,
    kafka: KafkaSettings | None = None,
    topic: str = "transactions",
) -> Sink:
    """The sink named by ``output`` (``kafka``, ``jsonl`` or ``stdout``)."""
    if output == "jsonl":
        if path is None:
            raise ConfigError("--output jsonl needs --path")
        return JsonLinesSink(ids, path=path)
    if output == "stdout":
        return JsonLinesSink(ids)
    if output == "kafka":
        return KafkaSink(ids, kafka or KafkaSettings(), topic)
    raise ConfigError(f"unknown output {output!r}; choose kafka, jsonl or stdout")
