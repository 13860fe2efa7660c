"""The in-process bus: Kafka's semantics that matter, without a broker.

One :class:`MemoryBus` object is one "cluster". Share the instance between the
threads of a process (generator, scorer, sinks); everything is guarded by one
lock and a condition variable that wakes blocked consumers on every write,
commit and rebalance.

What it keeps from Kafka: partitions chosen by the key's hash (the same
partitioner as the Kafka backend), order per partition, consumer groups with
committed offsets and cooperative rebalancing (``on_assign``/``on_revoke`` run
inside the member's own ``poll_batch``; a partition moves only after its old
owner revoked it), transactional producers whose records stay invisible to
``read_committed`` consumers until commit and are skipped after abort, offsets
committed atomically with a transaction, and fencing of a zombie producer by a
newer one with the same transactional id. What it leaves out: replication,
durability across restarts, log compaction, quotas.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING

from fraudstream.bus._memory_log import (
    Group,
    PartitionLog,
    Topic,
    Txn,
    TxnState,
    sticky_assignment,
)
from fraudstream.bus.base import Consumer, Message, TopicPartition
from fraudstream.bus.memory_consumer import MemoryConsumer
from fraudstream.bus.partitioner import partition_for_key
from fraudstream.errors import (
    AbortableTransactionError,
    BusError,
    ProducerFencedError,
)

if TYPE_CHECKING:
    from fraudstream.settings import Settings

logger = logging.getLogger(__name__)

# (topic, value, key, partition or None, timestamp_ms or None), as produce_batch takes.
BatchRecord = tuple[str, bytes | None, bytes | None, int | None, int | None]

__all__ = [
    "MemoryBus",
    "MemoryConsumer",
    "MemoryProducer",
    "MemoryTransactionalProducer",
    "bus_from_settings",
]


class MemoryBus:
    """An in-process message bus with Kafka's partition, group and transaction semantics.

    Args:
        retention_records: keep about this many records per partition (older ones
            are trimmed and the low watermark moves up); ``None`` keeps everything.
        session_timeout_s: a group member that has not polled for this long while
            another member waits for its partitions is evicted (its next poll sees
            them as lost).

    Example:
        >>> bus = MemoryBus()
        >>> bus.create_topics({"t": 2})
        >>> p = bus.producer()
        >>> p.produce("t", b"v1", key=b"k")
        >>> c = bus.consumer("g")
        >>> c.subscribe(["t"])
        >>> [m.value for m in c.poll_batch(10, 1.0)]
        [b'v1']
    """

    def __init__(
        self, *, retention_records: int | None = None, session_timeout_s: float = 30.0
    ) -> None:
        self.cond = threading.Condition(threading.RLock())
        self.topics: dict[str, Topic] = {}
        self.groups: dict[str, Group] = {}
        self.retention_records = retention_records
        self.session_timeout_s = session_timeout_s
        self._txn_epochs: dict[str, int] = {}
        self._txn_producers: dict[str, MemoryTransactionalProducer] = {}
        self._closed = False

    # -- topics -----------------------------------------------------------------
    def create_topics(
        self, partitions: Mapping[str, int], *, compacted: Iterable[str] = ()
    ) -> None:
        """Create missing topics; existing ones are left as they are (idempotent)."""
        compacted = set(compacted)
        with self.cond:
            for name, count in partitions.items():
                if count < 1:
                    raise BusError(f"topic {name!r}: partition count must be >= 1, got {count}")
                if name in self.topics:
                    continue
                logs = [PartitionLog(TopicPartition(name, p)) for p in range(count)]
                self.topics[name] = Topic(name, logs, compacted=name in compacted)
            # A group subscribed to a topic that did not exist yet now gets its partitions.
            for group in self.groups.values():
                if any(set(partitions) & subs for subs in group.subscriptions.values()):
                    self.rebalance(group)
            self.cond.notify_all()

    def partitions_for(self, topic: str) -> int:
        with self.cond:
            return len(self.topic(topic).logs)

    def list_topics(self) -> dict[str, int]:
        """Every topic with its partition count."""
        with self.cond:
            return {name: len(t.logs) for name, t in sorted(self.topics.items())}

    def topic(self, name: str) -> Topic:
        try:
            return self.topics[name]
        except KeyError:
            raise BusError(f"unknown topic {name!r} (topics are not auto-created)") from None

    def log(self, tp: TopicPartition) -> PartitionLog:
        logs = self.topic(tp.topic).logs
        if not 0 <= tp.partition < len(logs):
            raise BusError(f"unknown partition {tp.partition} of topic {tp.topic!r}")
        return logs[tp.partition]

    # -- clients ----------------------------------------------------------------
    def producer(self) -> MemoryProducer:
        return MemoryProducer(self)

    def transactional_producer(self, transactional_id: str) -> MemoryTransactionalProducer:
        """A transactional producer; creating it fences any older one with the same id."""
        return MemoryTransactionalProducer(self, transactional_id)

    def consumer(
        self, group_id: str, *, read_committed: bool = True, auto_offset_reset: str = "earliest"
    ) -> MemoryConsumer:
        if auto_offset_reset not in ("earliest", "latest"):
            raise BusError(
                f"auto_offset_reset must be 'earliest' or 'latest', got {auto_offset_reset!r}"
            )
        return MemoryConsumer(self, group_id, read_committed, auto_offset_reset)

    def group(self, group_id: str) -> Group:
        with self.cond:
            return self.groups.setdefault(group_id, Group(group_id))

    def close(self) -> None:
        self._closed = True

    # -- internals used by the clients (call with self.cond held) ----------------
    def append(
        self,
        topic: str,
        value: bytes | None,
        key: bytes | None,
        partition: int | None,
        headers: Sequence[tuple[str, bytes]] | None,
        timestamp_ms: int | None,
        txn: Txn | None,
    ) -> None:
        t = self.topic(topic)
        if partition is None:
            if key is None:
                partition = t.round_robin % len(t.logs)
                t.round_robin += 1
            else:
                partition = partition_for_key(key, len(t.logs))
        log = self.log(TopicPartition(topic, partition))
        ts = timestamp_ms if timestamp_ms is not None else int(time.time() * 1000)
        msg = Message(topic, partition, log.end, key, value, ts, tuple(headers or ()))
        log.append(msg, txn)
        if self.retention_records is not None:
            log.trim(self.retention_records)
        self.cond.notify_all()

    def append_many(self, records: Sequence[BatchRecord], txn: Txn | None) -> None:
        """The batch form of :meth:`append`: one lock, one wake-up for many records."""
        now = int(time.time() * 1000)
        touched: set[PartitionLog] = set()
        for topic, value, key, partition, ts in records:
            t = self.topic(topic)
            logs = t.logs
            if partition is None:
                if key is None:
                    partition = t.round_robin % len(logs)
                    t.round_robin += 1
                else:
                    partition = partition_for_key(key, len(logs))
            elif not 0 <= partition < len(logs):
                raise BusError(f"unknown partition {partition} of topic {topic!r}")
            log = logs[partition]
            offset = log.base + len(log.records)
            log.append(
                Message(topic, partition, offset, key, value, now if ts is None else ts), txn
            )
            touched.add(log)
        if self.retention_records is not None:
            for log in touched:
                log.trim(self.retention_records)
        self.cond.notify_all()

    def rebalance(self, group: Group) -> None:
        """Compute a new target assignment; members converge on it in their polls."""
        counts = {name: len(t.logs) for name, t in self.topics.items()}
        group.target = sticky_assignment(group.subscriptions, counts, group.target)
        group.generation += 1
        logger.debug("group %s rebalanced, generation %d", group.group_id, group.generation)
        self.cond.notify_all()

    def register_txn_producer(self, producer: MemoryTransactionalProducer) -> int:
        """Bump the id's epoch (fencing the older producer) and abort its open transaction."""
        tid = producer.transactional_id
        older = self._txn_producers.get(tid)
        if older is not None and older.txn is not None:
            logger.info(
                "fencing transactional id %s: aborting the older producer's transaction", tid
            )
            self.end_txn(older.txn, TxnState.ABORTED)
            older.txn = None
        epoch = self._txn_epochs.get(tid, -1) + 1
        self._txn_epochs[tid] = epoch
        self._txn_producers[tid] = producer
        return epoch

    def current_epoch(self, transactional_id: str) -> int:
        return self._txn_epochs[transactional_id]

    def end_txn(self, txn: Txn, state: TxnState) -> None:
        txn.state = state
        for log in txn.touched:
            log.open_first.pop(txn.txn_id, None)
        if state is TxnState.COMMITTED:
            for group, (_member, offsets) in txn.offsets.items():
                group.committed.update(offsets)
        self.cond.notify_all()


class MemoryProducer:
    """A non-transactional producer; every record is visible at once.

    Example:
        >>> bus = MemoryBus(); bus.create_topics({"t": 1})
        >>> bus.producer().produce("t", b"x")
    """

    def __init__(self, bus: MemoryBus) -> None:
        self._bus = bus
        self._closed = False

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
        with self._bus.cond:
            self._check()
            self._bus.append(topic, value, key, partition, headers, timestamp_ms, self._txn())

    def produce_batch(self, records: Sequence[BatchRecord]) -> None:
        """Produce ``(topic, value, key, partition, timestamp_ms)`` tuples in one go.

        The same signature as the Kafka producers' ``produce_batch``; the pipeline's
        hot path uses it when present.
        """
        with self._bus.cond:
            self._check()
            self._bus.append_many(records, self._txn())

    def _check(self) -> None:
        if self._closed:
            raise BusError("producer is closed")

    def _txn(self) -> Txn | None:
        return None

    def flush(self, timeout_s: float = 30.0) -> int:
        return 0

    def close(self) -> None:
        self._closed = True


class MemoryTransactionalProducer(MemoryProducer):
    """A producer whose records and consumer offsets commit or vanish together.

    Example:
        >>> bus = MemoryBus(); bus.create_topics({"t": 1})
        >>> tp = bus.transactional_producer("worker-0")
        >>> tp.begin(); tp.produce("t", b"x"); tp.commit()
    """

    def __init__(self, bus: MemoryBus, transactional_id: str) -> None:
        super().__init__(bus)
        self.transactional_id = transactional_id
        self.txn: Txn | None = None
        with bus.cond:
            self._epoch = bus.register_txn_producer(self)

    def _check(self) -> None:
        super()._check()
        if self._bus.current_epoch(self.transactional_id) != self._epoch:
            raise ProducerFencedError(
                f"transactional id {self.transactional_id!r} was taken over by a newer producer"
            )

    def _txn(self) -> Txn:
        if self.txn is None:
            raise BusError(
                "produce() on a transactional producer outside a transaction: call begin()"
            )
        return self.txn

    def begin(self) -> None:
        with self._bus.cond:
            self._check()
            if self.txn is not None:
                raise BusError("a transaction is already open")
            self.txn = Txn()

    def send_offsets(self, offsets: Mapping[TopicPartition, int], consumer: Consumer) -> None:
        if not isinstance(consumer, MemoryConsumer) or consumer.bus is not self._bus:
            raise BusError("send_offsets needs a consumer of the same MemoryBus")
        with self._bus.cond:
            self._check()
            txn = self._txn()
            member = consumer.member_id if consumer.subscribed else None
            group = consumer.group
            _old_member, staged = txn.offsets.get(group, (member, {}))
            staged.update(offsets)
            txn.offsets[group] = (member, staged)

    def commit(self) -> None:
        with self._bus.cond:
            self._check()
            txn = self._txn()
            if txn.must_abort is None:
                txn.must_abort = self._stale_offsets(txn)
            if txn.must_abort is not None:
                raise AbortableTransactionError(txn.must_abort)
            self._bus.end_txn(txn, TxnState.COMMITTED)
            self.txn = None

    def _stale_offsets(self, txn: Txn) -> str | None:
        """A member that lost a partition may not commit its offset (KIP-447 fencing)."""
        for group, (member, offsets) in txn.offsets.items():
            if member is None:
                continue
            for tp in offsets:
                if group.owner.get(tp) != member:
                    return f"group {group.group_id}: {tp} is no longer assigned to this member"
        return None

    def abort(self) -> None:
        with self._bus.cond:
            self._check()
            txn = self._txn()
            self._bus.end_txn(txn, TxnState.ABORTED)
            self.txn = None

    def close(self) -> None:
        with self._bus.cond:
            fenced = self._bus.current_epoch(self.transactional_id) != self._epoch
            if self.txn is not None and not fenced:
                self._bus.end_txn(self.txn, TxnState.ABORTED)
            self.txn = None
            super().close()


def bus_from_settings(settings: Settings) -> MemoryBus:
    """A new, empty in-process bus (the registry entry of ``bus="memory"``)."""
    return MemoryBus()
