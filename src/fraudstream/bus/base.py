"""The message-bus contract shared by the Kafka and the in-process backends.

The pipeline talks only to these protocols. Two implementations ship:
``fraudstream.bus.kafka`` (confluent-kafka, exactly-once transactions) and
``fraudstream.bus.memory`` (in-process, the same semantics that matter:
partitions by key hash, order per key, consumer-group offsets, transactions
whose writes and offsets become visible atomically on commit and vanish on
abort, read_committed consumers).

Offsets follow Kafka's convention: a committed offset is the offset of the
*next* record to read.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable


@dataclass(frozen=True, slots=True, order=True)
class TopicPartition:
    """One partition of one topic."""

    topic: str
    partition: int


@dataclass(frozen=True, slots=True)
class Message:
    """A record read from the bus, with its origin."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    timestamp_ms: int
    headers: tuple[tuple[str, bytes], ...] = field(default=())

    @property
    def tp(self) -> TopicPartition:
        return TopicPartition(self.topic, self.partition)


RebalanceCallback = Callable[[Sequence[TopicPartition]], None]


@runtime_checkable
class Producer(Protocol):
    """Writes records. Keyed records of one key always land in one partition, in order."""

    def produce(
        self,
        topic: str,
        value: bytes | None,
        key: bytes | None = None,
        *,
        partition: int | None = None,
        headers: Sequence[tuple[str, bytes]] | None = None,
        timestamp_ms: int | None = None,
    ) -> None: ...

    def flush(self, timeout_s: float = 30.0) -> int:
        """Wait for outstanding deliveries; return how many are still pending."""
        ...

    def close(self) -> None: ...


@runtime_checkable
class TransactionalProducer(Producer, Protocol):
    """A producer whose writes and consumer offsets commit atomically.

    Errors: ``AbortableTransactionError`` (abort, rewind, continue),
    ``ProducerFencedError`` / ``FatalBusError`` (stop the worker),
    ``RetriableBusError`` (retry the call).
    """

    def begin(self) -> None: ...

    def send_offsets(self, offsets: Mapping[TopicPartition, int], consumer: Consumer) -> None:
        """Add the consumer's next-to-read ``offsets`` to the open transaction."""
        ...

    def commit(self) -> None: ...

    def abort(self) -> None: ...


@runtime_checkable
class Consumer(Protocol):
    """Reads records as a member of a consumer group."""

    def subscribe(
        self,
        topics: Sequence[str],
        *,
        on_assign: RebalanceCallback | None = None,
        on_revoke: RebalanceCallback | None = None,
        on_lost: RebalanceCallback | None = None,
    ) -> None: ...

    def assign(self, partitions: Sequence[TopicPartition]) -> None:
        """Read these partitions without group membership (used for restores and tools)."""
        ...

    def poll_batch(self, max_records: int, timeout_s: float) -> list[Message]: ...

    def commit(self, offsets: Mapping[TopicPartition, int]) -> None:
        """Synchronously commit next-to-read offsets (non-transactional consumers only)."""
        ...

    def committed(self, partitions: Sequence[TopicPartition]) -> dict[TopicPartition, int]:
        """Committed next-to-read offsets; -1 where the group has none."""
        ...

    def seek(self, tp: TopicPartition, offset: int) -> None: ...

    def assignment(self) -> list[TopicPartition]: ...

    def watermarks(self, tp: TopicPartition) -> tuple[int, int]:
        """Low and high watermark (high = offset after the last stable record)."""
        ...

    def close(self) -> None: ...


@runtime_checkable
class Bus(Protocol):
    """A factory of producers and consumers over one cluster (or one process)."""

    def create_topics(
        self, partitions: Mapping[str, int], *, compacted: Iterable[str] = ()
    ) -> None:
        """Create missing topics; existing ones are left as they are (idempotent)."""
        ...

    def partitions_for(self, topic: str) -> int: ...

    def producer(self) -> Producer: ...

    def transactional_producer(self, transactional_id: str) -> TransactionalProducer: ...

    def consumer(
        self,
        group_id: str,
        *,
        read_committed: bool = True,
        auto_offset_reset: str = "earliest",
    ) -> Consumer: ...

    def close(self) -> None: ...
