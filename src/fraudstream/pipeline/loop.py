"""The exactly-once read-process-write loop (Kafka transactions).

One :class:`ScoringWorker` owns ``producers`` transactional producers (ids
``<group_id>-<worker_id>`` and ``<group_id>-<worker_id>-t<k>``, stable across
restarts so a restarted worker fences its zombies and aborts their open
transactions) and one ``read_committed`` consumer in the group. Consecutive
transactions alternate between the producers: the coordinator answers
``CONCURRENT_TRANSACTIONS`` to a producer whose previous commit markers are still
being written, and librdkafka retries ``AddPartitionsToTxn`` only after a fixed
20 ms; a producer that committed two transactions ago is always ready. Only one
transaction is open at a time, and the next one begins only after the previous
``commit_transaction`` returned (its outcome is durable), so the order of
outputs, state and offsets is the same as with one producer.
It follows librdkafka's transactional pattern:

* poll a batch -> begin a transaction if none is open -> process (pure) ->
  produce scores, alerts and dead letters;
* every ``commit_interval_ms`` or ``max_batch_records``: produce the state
  stores' changelog, ``send_offsets`` (with the consumer's group metadata,
  KIP-447) and commit. Outputs, state and input offsets become visible together;
* retriable errors: retry the call; abortable errors: abort, undo the state,
  rewind every partition to its committed offset; fenced or fatal: stop cleanly
  without committing;
* cooperative rebalances: commit on revoke, abort on lost assignment, restore
  the state of newly assigned partitions from the changelog before reading them;
* stop (SIGINT/SIGTERM sets the event): commit the open transaction and leave.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from fraudstream.bus.base import Bus, Consumer, Message, TopicPartition
from fraudstream.errors import (
    AbortableTransactionError,
    BusError,
    FatalBusError,
    ProducerFencedError,
    RetriableBusError,
)
from fraudstream.observe import metrics as m
from fraudstream.pipeline.processor import Processor
from fraudstream.pipeline.restore import restore_partition
from fraudstream.pipeline.state import PartitionStore

logger = logging.getLogger(__name__)


@dataclass
class WorkerStats:
    """What a worker did, returned when it stops."""

    consumed: int = 0
    scored: int = 0
    alerts: int = 0
    dead_letters: int = 0
    commits: int = 0
    aborts: int = 0
    rebalances: int = 0
    restored: int = 0
    exit_reason: str = "running"
    first_record_s: float | None = None  # time.monotonic() of the first record read
    last_commit_s: float | None = None  # time.monotonic() of the last commit
    # CPU time of the whole process (all threads, librdkafka's too) over the same span:
    # what the worker costs per record, whatever else shares the machine.
    first_record_cpu_s: float | None = None
    last_commit_cpu_s: float | None = None

    @property
    def busy_cpu_s(self) -> float:
        if self.first_record_cpu_s is None or self.last_commit_cpu_s is None:
            return 0.0
        return self.last_commit_cpu_s - self.first_record_cpu_s

    @property
    def busy_wall_s(self) -> float:
        if self.first_record_s is None or self.last_commit_s is None:
            return 0.0
        return self.last_commit_s - self.first_record_s

    dead_by_reason: dict[str, int] = field(default_factory=dict)


class _Fatal(Exception):
    """Internal: unwind the loop after a fenced or fatal error."""


@dataclass
class WorkerConfig:
    """How a worker runs (see ``PipelineSettings``)."""

    group_id: str
    worker_id: str
    input_topics: list[str]
    changelog_topics: dict[str, str]  # input topic -> changelog topic
    max_batch_records: int = 1000
    commit_interval_ms: int = 100
    poll_timeout_s: float = 0.02
    max_retries: int = 8
    producers: int = 2  # transactional producers used in turn (see the module doc)

    @property
    def transactional_id(self) -> str:
        return f"{self.group_id}-{self.worker_id}"

    @property
    def transactional_ids(self) -> list[str]:
        """One id per producer; the first is the single-producer id (upgrades fence it)."""
        first = self.transactional_id
        return [first] + [f"{first}-t{k}" for k in range(1, max(1, self.producers))]


class ScoringWorker:
    """An exactly-once scoring worker over any :class:`~fraudstream.bus.base.Bus`.

    Example:
        See :func:`fraudstream.pipeline.harness.run_pipeline`, which runs workers
        on the in-process bus, and ``fraudstream score`` for Kafka.
    """

    def __init__(
        self,
        bus: Bus,
        processor: Processor,
        config: WorkerConfig,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.bus = bus
        self.processor = processor
        self.cfg = config
        self.clock = clock
        self.stats = WorkerStats()
        self.stores: dict[TopicPartition, PartitionStore] = {}
        self._offsets: dict[TopicPartition, int] = {}
        self._txn_open = False
        self._txn_started = 0.0
        self._txn_records = 0
        self._txn_first_ts: list[np.ndarray] = []
        self._txn_fetch_ms = 0.0  # worst (poll return - input create time) in the transaction
        self._cycle_start = time.monotonic()  # end of the previous commit (or abort)
        self._fatal: str | None = None
        self._last_data = time.monotonic()
        self._restore_consumer: Consumer | None = None
        self._w = config.worker_id
        self.producers = [bus.transactional_producer(t) for t in config.transactional_ids]
        self._turn = 0
        self.producer = self.producers[0]  # the one the next transaction uses
        self.consumer = bus.consumer(config.group_id, read_committed=True)

    # -- main loop ------------------------------------------------------------------
    def run(
        self,
        stop: threading.Event,
        *,
        idle_exit_s: float | None = None,
        on_commit: Callable[[ScoringWorker], None] | None = None,
    ) -> WorkerStats:
        """Run until ``stop`` is set (or nothing arrived for ``idle_exit_s``)."""
        self.consumer.subscribe(
            self.cfg.input_topics,
            on_assign=self._on_assign,
            on_revoke=self._on_revoke,
            on_lost=self._on_lost,
        )
        self._last_data = self._cycle_start = time.monotonic()
        lag_stop = threading.Event()
        threading.Thread(target=self._lag_loop, args=(lag_stop,), daemon=True).start()
        try:
            while not stop.is_set() and self._fatal is None:
                msgs = self.consumer.poll_batch(self._want(), self._poll_timeout())
                if self._fatal is not None:
                    break
                now = time.monotonic()
                if msgs:
                    self._last_data = now
                    self._process(msgs)
                if self._txn_open and (
                    self._txn_records >= self.cfg.max_batch_records or self._due() <= 0
                ):
                    self._commit()
                    if on_commit is not None:
                        on_commit(self)
                if (
                    idle_exit_s is not None
                    and not self._txn_open
                    and self.stores  # idle means: assigned, and nothing came
                    and now - self._last_data > idle_exit_s
                ):
                    self.stats.exit_reason = "idle"
                    break
            if self._fatal is None and self._txn_open:
                self._commit()  # graceful stop: finish the open transaction
            if self.stats.exit_reason == "running":
                self.stats.exit_reason = self._fatal or "stopped"
        except _Fatal:
            self.stats.exit_reason = self._fatal or "fatal"
        except FatalBusError as exc:  # begin() or poll: same as anywhere else
            self._fatal = _fatal_kind(exc)
            logger.error("worker %s: %s error, stopping: %s", self._w, self._fatal, exc)
            self.stats.exit_reason = self._fatal
        finally:
            lag_stop.set()
            self._close()
        return self.stats

    # A Kafka ``consume`` waits its whole timeout unless it fills the batch. So with no
    # transaction open the loop asks for ONE record (the poll returns the moment one
    # arrives, not a poll timeout later), and with one open it asks for what still fits
    # and waits no longer than the commit is due: a record never idles in a poll.
    def _want(self) -> int:
        """Records still fitting the open transaction (1 to open one)."""
        if not self._txn_open:
            return 1
        return max(1, self.cfg.max_batch_records - self._txn_records)

    def _poll_timeout(self) -> float:
        if not self._txn_open:
            return self.cfg.poll_timeout_s
        return max(0.0, min(self.cfg.poll_timeout_s, self._due()))

    def _due(self) -> float:
        """Seconds until the open transaction is due: ``commit_interval_ms`` after the
        previous commit (the cadence under load) and at once after a quiet spell."""
        return self._cycle_start + self.cfg.commit_interval_ms / 1000 - time.monotonic()

    def _process(self, msgs: list[Message]) -> None:
        if not self._txn_open:
            self._call(self.producer.begin)
            self._txn_open = True
            self._txn_started = time.monotonic()
        read_ms = self.clock() * 1000
        t0 = time.perf_counter()
        result = self.processor.process(msgs, self._store, int(read_ms), read_ms)
        m.PROCESSING_SECONDS.labels(self._w).observe(time.perf_counter() - t0)
        m.BATCH_SIZE.labels(self._w).observe(len(msgs))
        try:
            produce_batch = getattr(self.producer, "produce_batch", None)
            if produce_batch is not None:  # Kafka: no per-record callbacks
                produce_batch(result.records)
            else:
                produce = self.producer.produce
                for r in result.records:
                    produce(
                        r.topic, r.value, r.key, partition=r.partition, timestamp_ms=r.timestamp_ms
                    )
        except AbortableTransactionError as exc:
            self._abort_and_rewind(f"produce: {exc}")
            return
        except FatalBusError as exc:
            self._die(exc)
        if self.stats.first_record_s is None:
            self.stats.first_record_s = time.monotonic()
            self.stats.first_record_cpu_s = time.process_time()
        for msg in msgs:
            self._offsets[msg.tp] = msg.offset + 1
        self._txn_records += len(msgs)
        ts = np.fromiter((x.timestamp_ms for x in msgs), np.int64, len(msgs))
        self._txn_first_ts.append(ts)
        self._txn_fetch_ms = max(self._txn_fetch_ms, read_ms - float(ts.min()))
        self._count(msgs, result.scored, result.alerts, result.dead)

    def _count(self, msgs: list[Message], scored: dict[str, int], alerts: dict[str, int],
               dead: dict[str, int]) -> None:  # fmt: skip
        st = self.stats
        st.consumed += len(msgs)
        for topic in {x.topic for x in msgs}:
            m.RECORDS_IN.labels(self._w, topic).inc(sum(1 for x in msgs if x.topic == topic))
        for topic, n in scored.items():
            st.scored += n
            m.RECORDS_OUT.labels(self._w, self.processor.routes[topic].output_topic).inc(n)
        for topic, n in alerts.items():
            st.alerts += n
            m.RECORDS_OUT.labels(self._w, topic).inc(n)
        for reason, n in dead.items():
            st.dead_letters += n
            st.dead_by_reason[reason] = st.dead_by_reason.get(reason, 0) + n
            m.DEAD_LETTERS.labels(self._w, reason).inc(n)
            m.RECORDS_OUT.labels(self._w, self.processor.dead_letter_topic).inc(n)

    # -- transactions -------------------------------------------------------------------
    def _commit(self) -> None:
        """Changelog + offsets + commit; abort and rewind if the transaction is doomed."""
        t0 = time.perf_counter()
        t_offsets = t_commit = t0
        try:
            for tp, store in self.stores.items():
                if store.dirty:
                    topic = self.cfg.changelog_topics[tp.topic]
                    for key, value in store.changelog():
                        self.producer.produce(
                            topic, value, key.encode("utf-8"), partition=tp.partition
                        )
            t_offsets = time.perf_counter()
            if self._offsets:
                self._call(self.producer.send_offsets, dict(self._offsets), self.consumer)
            t_commit = time.perf_counter()
            self._call(self.producer.commit)
        except AbortableTransactionError as exc:
            self._abort_and_rewind(f"commit: {exc}")
            return
        except FatalBusError as exc:
            self._die(exc)
        done = time.time() * 1000
        for store in self.stores.values():
            store.commit()
        if self._txn_first_ts:
            lat = (done - np.concatenate(self._txn_first_ts)) / 1000.0
            if logger.isEnabledFor(logging.DEBUG):  # stage trace (``bench pipeline --trace``)
                t1 = time.perf_counter()
                logger.debug(
                    "commit-trace records=%d open_ms=%.1f fetch_ms=%.1f changelog_ms=%.1f "
                    "offsets_ms=%.1f commit_ms=%.1f done_max_ms=%.1f done_p50_ms=%.1f",
                    lat.size, (time.monotonic() - self._txn_started) * 1000, self._txn_fetch_ms,
                    (t_offsets - t0) * 1000, (t_commit - t_offsets) * 1000, (t1 - t_commit) * 1000,
                    lat.max() * 1000, float(np.median(lat)) * 1000,
                )  # fmt: skip
            hist = m.END_TO_END_SECONDS.labels(self._w)
            for x in lat[:: max(1, len(lat) // 200)]:  # a sample keeps the hot path cheap
                hist.observe(float(x))
        m.TXN_COMMIT_SECONDS.labels(self._w).observe(time.perf_counter() - t0)
        m.TXN_COMMITS.labels(self._w).inc()
        self.stats.commits += 1
        self.stats.last_commit_s = time.monotonic()
        self.stats.last_commit_cpu_s = time.process_time()
        self._reset_txn()

    def _lag_loop(self, stop: threading.Event, every_s: float = 5.0) -> None:
        """Update the consumer-lag gauges from a side thread (never blocks the loop)."""
        consumer = self.bus.consumer(self.cfg.group_id, read_committed=True)  # queries only
        try:
            while not stop.wait(every_s):
                self._update_lag(consumer)
        finally:
            consumer.close()

    def _update_lag(self, consumer: Consumer) -> None:
        """Consumer lag per owned partition: high watermark - committed offset."""
        owned = list(self.stores)
        try:
            committed = consumer.committed(owned)
            for tp in owned:
                high = consumer.watermarks(tp)[1]
                lag = max(0, high - max(committed.get(tp, 0), 0))
                m.CONSUMER_LAG.labels(self._w, tp.topic, str(tp.partition)).set(lag)
        except Exception as exc:  # a metric must never stop anything
            logger.debug("worker %s: lag not updated: %s", self._w, exc)

    def _reset_txn(self) -> None:
        self._offsets.clear()
        self._txn_open = False
        self._txn_records = 0
        self._txn_first_ts = []
        self._txn_fetch_ms = 0.0
        self._cycle_start = time.monotonic()
        # The next transaction goes to the next producer: this one's markers are
        # still being written (see the module doc).
        self._turn = (self._turn + 1) % len(self.producers)
        self.producer = self.producers[self._turn]

    def _abort_and_rewind(self, cause: str) -> None:
        """Abort the open transaction, undo state, seek every partition to its committed offset."""
        logger.warning("worker %s: aborting transaction (%s)", self._w, cause)
        if self._txn_open:
            try:
                self._call(self.producer.abort)
            except FatalBusError as exc:
                self._die(exc)
        for store in self.stores.values():
            store.abort()
        self._reset_txn()
        self.stats.aborts += 1
        m.TXN_ABORTS.labels(self._w, cause.split(":")[0]).inc()
        self._rewind(self.consumer.assignment())

    def _rewind(self, partitions: list[TopicPartition]) -> None:
        if not partitions:
            return
        committed = self._committed(partitions)
        for tp in partitions:
            offset = committed.get(tp, -1)
            if offset < 0:
                offset = self.consumer.watermarks(tp)[0]
            self.consumer.seek(tp, offset)
            logger.info("worker %s: rewound %s[%d] to %d", self._w, tp.topic, tp.partition, offset)

    def _committed(self, partitions: list[TopicPartition]) -> dict[TopicPartition, int]:
        """Committed offsets, retrying transient coordinator errors (a broker restarting)."""
        delay = 0.1
        for attempt in range(self.cfg.max_retries + 1):
            try:
                return self.consumer.committed(partitions)
            except FatalBusError:
                raise
            except BusError as exc:
                if attempt == self.cfg.max_retries:
                    raise FatalBusError(f"committed offsets unavailable: {exc}") from exc
                logger.warning("worker %s: committed offsets not available (%s)", self._w, exc)
                time.sleep(delay)
                delay = min(delay * 2, 2.0)
        raise AssertionError("unreachable")

    def _call(self, fn: Callable[..., None], *args: object) -> None:
        """Call ``fn`` retrying retriable errors with a backoff; then it is abortable."""
        delay = 0.05
        for attempt in range(self.cfg.max_retries + 1):
            try:
                fn(*args)
                return
            except RetriableBusError as exc:
                if attempt == self.cfg.max_retries:
                    raise AbortableTransactionError(f"retries exhausted: {exc}") from exc
                logger.warning("worker %s: retriable error (%s), retrying", self._w, exc)
                time.sleep(delay)
                delay = min(delay * 2, 1.0)

    def _die(self, exc: FatalBusError) -> None:
        kind = _fatal_kind(exc)
        logger.error("worker %s: %s error, stopping: %s", self._w, kind, exc)
        self._fatal = kind
        raise _Fatal(kind) from exc

    # -- partitions and state ------------------------------------------------------------
    def _store(self, topic: str, partition: int) -> PartitionStore:
        tp = TopicPartition(topic, partition)
        store = self.stores.get(tp)
        if store is None:  # assigned without a callback (should not happen): start empty
            store = self.stores[tp] = self._restore(tp)
        return store

    def _restore(self, tp: TopicPartition) -> PartitionStore:
        if self._restore_consumer is None:
            self._restore_consumer = self.bus.consumer(
                f"{self.cfg.group_id}-restore-{self._w}", read_committed=True
            )
        changelog = TopicPartition(self.cfg.changelog_topics[tp.topic], tp.partition)
        store, n = restore_partition(self._restore_consumer, changelog)
        self.stats.restored += n
        m.STATE_RESTORED.labels(self._w).inc(n)
        return store

    def _on_assign(self, partitions: Sequence[TopicPartition]) -> None:
        self.stats.rebalances += 1
        m.REBALANCES.labels(self._w, "assign").inc()
        for tp in partitions:
            self.stores[tp] = self._restore(tp)
        self._last_data = time.monotonic()
        m.ASSIGNED_PARTITIONS.labels(self._w).set(len(self.stores))
        logger.info("worker %s: assigned %s", self._w, _fmt(partitions))

    def _on_revoke(self, partitions: Sequence[TopicPartition]) -> None:
        self.stats.rebalances += 1
        m.REBALANCES.labels(self._w, "revoke").inc()
        if self._txn_open and self._fatal is None:
            with contextlib.suppress(_Fatal):
                self._commit()  # hand the partitions over with their work committed
        for tp in partitions:
            self.stores.pop(tp, None)
        m.ASSIGNED_PARTITIONS.labels(self._w).set(len(self.stores))
        logger.info("worker %s: revoked %s", self._w, _fmt(partitions))

    def _on_lost(self, partitions: Sequence[TopicPartition]) -> None:
        self.stats.rebalances += 1
        m.REBALANCES.labels(self._w, "lost").inc()
        if self._txn_open and self._fatal is None:
            with contextlib.suppress(_Fatal):
                self._abort_and_rewind("lost")
        for tp in partitions:
            self.stores.pop(tp, None)
        logger.warning("worker %s: lost %s", self._w, _fmt(partitions))

    def _close(self) -> None:
        try:
            self.consumer.close()  # runs on_revoke: commits unless fenced/fatal
        except Exception:
            logger.exception("worker %s: closing the consumer failed", self._w)
        for client in (self._restore_consumer, *self.producers):
            if client is None:
                continue
            try:
                client.close()
            except Exception:
                logger.exception("worker %s: closing a client failed", self._w)


def _fatal_kind(exc: FatalBusError) -> str:
    return "fenced" if isinstance(exc, ProducerFencedError) else "fatal"


def _fmt(partitions: Sequence[TopicPartition]) -> str:
    return ", ".join(f"{tp.topic}[{tp.partition}]" for tp in sorted(partitions))
