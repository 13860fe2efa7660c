"""The sink: ``fraud-scores``, ``fraud-alerts`` and ``feedback`` into the database.

One loop: poll a batch (``read_committed``, so aborted pipeline transactions are
never stored) -> decode -> upsert everything in ONE database transaction ->
commit the consumer offsets. The offsets are committed only after the database
commit, so a crash anywhere replays the batch; the upserts are keyed by
``transaction_id`` so a replay leaves exactly one row per transaction.

When the database fails the transaction is rolled back, the offsets are NOT
committed, and the same batch is retried with exponential back-off (capped)
until the database answers again; then the sink catches up on what piled up
in Kafka meanwhile. Records that cannot be decoded are handed to
``dead_letter`` with the reason and their origin, never silently dropped.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from prometheus_client import Counter, Histogram
from sqlalchemy import Engine

from fraudstream.bus.base import Consumer, Message, TopicPartition
from fraudstream.errors import BusError, FatalBusError, FraudstreamError, RecordError, StoreError
from fraudstream.observe.metrics import CONSUMER_LAG
from fraudstream.store.records import alert_row, feedback_row, score_row
from fraudstream.store.repository import SinkBatch, write_batch

logger = logging.getLogger(__name__)

SINK_ROWS = Counter("fraudstream_sink_records_total", "Records written by the sink", ["table"])
SINK_RETRIES = Counter("fraudstream_sink_db_retries_total", "Sink batch writes retried")
SINK_BAD = Counter("fraudstream_sink_bad_records_total", "Undecodable records dead-lettered")
SINK_BATCH_S = Histogram("fraudstream_sink_batch_seconds", "Sink database write per batch")

Decode = Callable[[Message], Mapping[str, Any]]
DeadLetter = Callable[[Message, FraudstreamError], None]


@dataclass(frozen=True, slots=True)
class SinkTopics:
    """Which topic feeds which table."""

    scores: str = "fraud-scores"
    alerts: str = "fraud-alerts"
    feedback: str = "feedback"

    def all(self) -> list[str]:
        return [self.scores, self.alerts, self.feedback]


@dataclass(slots=True)
class SinkStats:
    """What one :meth:`Sink.run` did."""

    records: int = 0
    batches: int = 0
    db_retries: int = 0
    bad_records: int = 0


def _log_dead_letter(msg: Message, err: FraudstreamError) -> None:
    logger.error(
        "sink: bad record %s[%d]@%d: %s", msg.topic, msg.partition, msg.offset, err.message
    )


class Sink:
    """Consumes scored records and stores them idempotently.

    Args:
        engine: the database (tables created by ``fraudstream db upgrade``).
        consumer: a ``read_committed`` consumer, already subscribed to ``topics.all()``.
        decode: bytes of one message -> the event record (Avro serde in production).
        topics: topic names.
        batch_records: records per database transaction.
        backoff_initial_s, backoff_max_s: the retry schedule while the database is down.
        dead_letter: receives undecodable records and the error (default: log them).
        flush_dead_letters: makes the dead letters of a batch durable; called
            before the batch's offsets are committed.

    Example:
        >>> from fraudstream.bus.memory import MemoryBus
        >>> from fraudstream.settings import DatabaseSettings
        >>> from fraudstream.store.db import make_engine
        >>> from fraudstream.store.migrate import upgrade
        >>> engine = make_engine(DatabaseSettings(url="sqlite://"))
        >>> upgrade(engine)
        >>> bus = MemoryBus()
        >>> bus.create_topics({"fraud-scores": 1, "fraud-alerts": 1, "feedback": 1})
        >>> consumer = bus.consumer("sink")
        >>> consumer.subscribe(SinkTopics().all())
        >>> sink = Sink(engine, consumer, decode=lambda m: {})
        >>> sink.step()
        0
    """

    def __init__(
        self,
        engine: Engine,
        consumer: Consumer,
        decode: Decode,
        *,
        topics: SinkTopics | None = None,
        batch_records: int = 2000,
        poll_timeout_s: float = 0.5,
        backoff_initial_s: float = 0.2,
        backoff_max_s: float = 5.0,
        dead_letter: DeadLetter | None = None,
        flush_dead_letters: Callable[[], None] | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.engine = engine
        self.consumer = consumer
        self.decode = decode
        self.topics = topics or SinkTopics()
        self.batch_records = batch_records
        self.poll_timeout_s = poll_timeout_s
        self.backoff_initial_s = backoff_initial_s
        self.backoff_max_s = backoff_max_s
        self.dead_letter = dead_letter or _log_dead_letter
        self.flush_dead_letters = flush_dead_letters
        self.sleep = sleep
        self.stats = SinkStats()
        # fraudstream_pipeline_consumer_lag{worker="sink"} at most this often.
        self.lag_interval_s = 5.0
        self._lag_at = -float("inf")
        self._next: dict[TopicPartition, int] = {}  # next offset to read, per partition
        self._to_row = {
            self.topics.scores: ("scores", score_row),
            self.topics.alerts: ("alerts", alert_row),
            self.topics.feedback: ("feedback", feedback_row),
        }

    def to_batch(self, messages: list[Message]) -> SinkBatch:
        """Decode ``messages`` into rows; bad ones go to ``dead_letter``."""
        batch = SinkBatch()
        for msg in messages:
            target = self._to_row.get(msg.topic)
            if target is None or msg.value is None:
                continue  # tombstones and foreign topics carry nothing to store
            table, to_row = target
            try:
                row = to_row(self.decode(msg))
            except RecordError as err:
                self._bad(msg, err)
                continue
            except (ValueError, TypeError, KeyError, IndexError) as exc:
                self._bad(msg, RecordError(f"{type(exc).__name__}: {exc}"))
                continue
            getattr(batch, table).append(row)
        return batch

    def _bad(self, msg: Message, err: FraudstreamError) -> None:
        self.stats.bad_records += 1
        SINK_BAD.inc()
        self.dead_letter(msg, err)

    def write(self, batch: SinkBatch, stop: threading.Event | None = None) -> bool:
        """Write ``batch``, retrying with back-off while the database fails.

        Returns False only when ``stop`` was set before the write succeeded (the
        caller must then NOT commit offsets).
        """
        delay = self.backoff_initial_s
        while True:
            try:
                with SINK_BATCH_S.time():
                    write_batch(self.engine, batch)
                return True
            except StoreError as err:
                self.stats.db_retries += 1
                SINK_RETRIES.inc()
                logger.warning("sink: database write failed (%s); retry in %.1fs", err, delay)
            if stop is not None and stop.is_set():
                return False
            self.sleep(delay)
            delay = min(delay * 2, self.backoff_max_s)

    def commit(self, messages: list[Message]) -> None:
        """Commit next-to-read offsets of ``messages`` (after the database commit)."""
        offsets: dict[TopicPartition, int] = {}
        for msg in messages:
            offsets[msg.tp] = max(offsets.get(msg.tp, 0), msg.offset + 1)
        try:
            self.consumer.commit(offsets)
        except BusError as err:
            # The rows are stored; a replay after this failure is harmless (upserts).
            logger.warning("sink: offset commit failed (%s); the batch may be replayed", err)

    def export_lag(self) -> None:
        """``fraudstream_pipeline_consumer_lag{worker="sink"}``: records not yet stored,
        per assigned partition (high watermark minus the next offset to read)."""
        self._lag_at = time.monotonic()
        try:
            assigned = list(self.consumer.assignment())
            unknown = [tp for tp in assigned if tp not in self._next]
            if unknown:  # nothing read yet: start from the group's committed offsets
                for tp, off in self.consumer.committed(unknown).items():
                    if off >= 0:
                        self._next[tp] = off
            for tp in assigned:
                low, high = self.consumer.watermarks(tp)
                lag = max(high - self._next.get(tp, low), 0)
                CONSUMER_LAG.labels("sink", tp.topic, str(tp.partition)).set(lag)
        except BusError as exc:  # a metric must never stop the sink
            logger.warning("sink: cannot read watermarks: %s", exc)

    def step(self, stop: threading.Event | None = None) -> int:
        """Poll one batch, store it, commit it. Returns the number of messages handled."""
        if time.monotonic() - self._lag_at >= self.lag_interval_s:
            self.export_lag()
        try:
            messages = self.consumer.poll_batch(self.batch_records, self.poll_timeout_s)
        except FatalBusError:
            raise
        except BusError as err:
            # A topic not created yet, a broker restarting: nothing was read, so try again.
            logger.warning("sink: poll failed (%s); retrying", err)
            self.sleep(self.backoff_initial_s)
            return 0
        if not messages:
            return 0
        bad_before = self.stats.bad_records
        batch = self.to_batch(messages)
        if not self.write(batch, stop):
            return 0
        if self.flush_dead_letters is not None and self.stats.bad_records > bad_before:
            self.flush_dead_letters()  # dead letters durable before their offsets commit
        self.commit(messages)
        for msg in messages:
            self._next[msg.tp] = max(self._next.get(msg.tp, 0), msg.offset + 1)
        self.stats.records += len(batch)
        self.stats.batches += 1
        SINK_ROWS.labels("scores").inc(len(batch.scores))
        SINK_ROWS.labels("alerts").inc(len(batch.alerts))
        SINK_ROWS.labels("feedback").inc(len(batch.feedback))
        return len(messages)

    def run(self, stop: threading.Event, *, idle_exit_s: float | None = None) -> SinkStats:
        """Loop until ``stop`` is set (or nothing arrived for ``idle_exit_s``)."""
        idle_since = time.monotonic()
        while not stop.is_set():
            if self.step(stop):
                idle_since = time.monotonic()
            elif idle_exit_s is not None and time.monotonic() - idle_since > idle_exit_s:
                break
        return self.stats
