"""Rebuild a partition's state store from its compacted changelog.

The changelog is read ``read_committed`` from the low watermark to the last
stable offset: only state written by committed transactions comes back, which
is the state that matches the committed input offsets. An open transaction of a
crashed worker holds the last stable offset back until the broker aborts it (the
restarted worker's ``init_transactions`` or ``transaction.timeout.ms``), so the
restore cannot run ahead of the offsets it must agree with.
"""

from __future__ import annotations

import logging
import time

from fraudstream.bus.base import Consumer, TopicPartition
from fraudstream.errors import BusError
from fraudstream.pipeline.state import PartitionStore

logger = logging.getLogger(__name__)


def restore_partition(
    consumer: Consumer, changelog: TopicPartition, *, timeout_s: float = 120.0
) -> tuple[PartitionStore, int]:
    """Read ``changelog`` to its end into a new store; return it and the records read.

    ``consumer`` is a ``read_committed`` consumer used with ``assign`` (no group);
    it is re-assigned to this one partition.

    Example:
        >>> from fraudstream.bus.memory import MemoryBus
        >>> bus = MemoryBus(); bus.create_topics({"cl": 2}, compacted=["cl"])
        >>> p = bus.producer(); p.produce("cl", b"v", b"card:1", partition=1)
        >>> store, n = restore_partition(bus.consumer("r"), TopicPartition("cl", 1))
        >>> store.get("card:1"), n
        (b'v', 1)
    """
    store = PartitionStore(changelog.partition)
    # The restore consumer's group never commits, so it starts at the low watermark
    # (auto.offset.reset=earliest); librdkafka cannot seek before the first fetch.
    consumer.assign([changelog])
    low, high = consumer.watermarks(changelog)
    count = 0
    deadline = time.monotonic() + timeout_s
    t0 = time.perf_counter()
    while _position(consumer, changelog, low) < high:
        batch = consumer.poll_batch(10_000, 0.2)
        for msg in batch:
            store.apply_changelog(msg.key, msg.value)
        count += len(batch)
        if not batch and time.monotonic() > deadline:
            raise BusError(
                f"restoring {changelog.topic}[{changelog.partition}] timed out at "
                f"{_position(consumer, changelog, low)} of {high}"
            )
    logger.info(
        "restored %s[%d]: %d changelog records, %d keys in %.2fs",
        changelog.topic,
        changelog.partition,
        count,
        len(store),
        time.perf_counter() - t0,
    )
    return store, count


def _position(consumer: Consumer, tp: TopicPartition, default: int) -> int:
    """The consumer's next offset (past control records, unlike the last record + 1)."""
    position = getattr(consumer, "position", None)
    if position is None:
        raise BusError(f"{type(consumer).__name__} has no position(); cannot restore state")
    pos = position(tp)
    return default if pos is None or pos < 0 else int(pos)
