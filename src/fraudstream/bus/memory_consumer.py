"""The consumer of the in-process bus (see :mod:`fraudstream.bus.memory`)."""

from __future__ import annotations

import itertools
import logging
import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from fraudstream.bus._memory_log import PartitionLog, TxnState
from fraudstream.bus.base import Message, RebalanceCallback, TopicPartition
from fraudstream.errors import BusError

if TYPE_CHECKING:
    from fraudstream.bus.memory import MemoryBus

logger = logging.getLogger(__name__)

_member_ids = itertools.count(1)


class MemoryConsumer:
    """A member of a consumer group of a :class:`~fraudstream.bus.memory.MemoryBus`.

    Rebalance callbacks run inside :meth:`poll_batch` (and :meth:`close`), in the
    caller's thread, with the incremental partitions (cooperative protocol):
    ``on_revoke`` gets only the partitions taken away, ``on_assign`` only the new ones.

    Example:
        >>> from fraudstream.bus.memory import MemoryBus
        >>> bus = MemoryBus(); bus.create_topics({"t": 3})
        >>> c = bus.consumer("g")
        >>> c.subscribe(["t"])
        >>> c.poll_batch(10, 0.01)
        []
        >>> len(c.assignment())
        3
    """

    def __init__(
        self, bus: MemoryBus, group_id: str, read_committed: bool, auto_offset_reset: str
    ) -> None:
        self.bus = bus
        self.group = bus.group(group_id)
        self.group_id = group_id
        self.read_committed = read_committed
        self.auto_offset_reset = auto_offset_reset
        self.member_id = next(_member_ids)
        self.subscribed = False
        self._manual = False
        self._owned: list[TopicPartition] = []
        self._positions: dict[TopicPartition, int] = {}
        self._on_assign: RebalanceCallback | None = None
        self._on_revoke: RebalanceCallback | None = None
        self._on_lost: RebalanceCallback | None = None
        self._topics: frozenset[str] = frozenset()
        self._rotation = 0
        self._closed = False

    # -- membership ---------------------------------------------------------------
    def subscribe(
        self,
        topics: Sequence[str],
        *,
        on_assign: RebalanceCallback | None = None,
        on_revoke: RebalanceCallback | None = None,
        on_lost: RebalanceCallback | None = None,
    ) -> None:
        with self.bus.cond:
            self._check_open()
            if self._manual:
                raise BusError("consumer uses assign(); it cannot also subscribe")
            self._on_assign, self._on_revoke, self._on_lost = on_assign, on_revoke, on_lost
            self._topics = frozenset(topics)
            self.subscribed = True
            self._join()

    def _join(self) -> None:
        self.group.subscriptions[self.member_id] = self._topics
        self.group.last_poll[self.member_id] = time.monotonic()
        self.bus.rebalance(self.group)

    def _leave(self) -> None:
        g = self.group
        g.subscriptions.pop(self.member_id, None)
        g.last_poll.pop(self.member_id, None)
        g.target.pop(self.member_id, None)
        for tp in [tp for tp, m in g.owner.items() if m == self.member_id]:
            del g.owner[tp]
        self.bus.rebalance(g)

    def assign(self, partitions: Sequence[TopicPartition]) -> None:
        with self.bus.cond:
            self._check_open()
            if self.subscribed:
                raise BusError("consumer is subscribed; it cannot also assign()")
            self._manual = True
            for tp in partitions:
                self.bus.log(tp)
            self._owned = sorted(set(partitions))
            self._positions = {tp: self._start_offset(tp) for tp in self._owned}

    def _start_offset(self, tp: TopicPartition) -> int:
        committed = self.group.committed.get(tp, -1)
        if committed >= 0:
            return committed
        log = self.bus.log(tp)
        return log.base if self.auto_offset_reset == "earliest" else self._limit(log)

    def _sync(self) -> None:
        """Converge on the group's target assignment, running the callbacks unlocked."""
        if not self.subscribed:
            return
        with self.bus.cond:
            g = self.group
            if self.member_id not in g.subscriptions:  # evicted while not polling
                lost = list(self._owned)
                self._owned, self._positions = [], {}
                self._join()
            else:
                lost = []
            g.last_poll[self.member_id] = time.monotonic()
            self._evict_stale_members()
            target = g.target.get(self.member_id, set())
            revoke = [tp for tp in self._owned if tp not in target]
        if lost:
            logger.warning("group %s: partitions lost %s", self.group_id, lost)
            callback = self._on_lost or self._on_revoke
            if callback is not None:
                callback(lost)
        if revoke:
            self._revoke(revoke)
        with self.bus.cond:
            assign = [tp for tp in sorted(target - set(self._owned)) if tp not in g.owner]
            for tp in assign:
                g.owner[tp] = self.member_id
                self._owned.append(tp)
                self._positions[tp] = self._start_offset(tp)
            self._owned.sort()
        if assign and self._on_assign is not None:
            self._on_assign(assign)

    def _revoke(self, revoke: list[TopicPartition]) -> None:
        try:
            if self._on_revoke is not None:
                self._on_revoke(revoke)
        finally:
            with self.bus.cond:
                for tp in revoke:
                    if tp in self._owned:
                        self._owned.remove(tp)
                    self._positions.pop(tp, None)
                    if self.group.owner.get(tp) == self.member_id:
                        del self.group.owner[tp]
                self.bus.cond.notify_all()

    def _evict_stale_members(self) -> None:
        """Kafka's session timeout: a member that stopped polling loses its partitions."""
        g, now = self.group, time.monotonic()
        stale = [
            m
            for m in g.subscriptions
            if m != self.member_id and now - g.last_poll.get(m, now) > self.bus.session_timeout_s
        ]
        for member in stale:
            logger.warning("group %s: evicting member %d (no poll)", self.group_id, member)
            for held in [t for t, m in g.owner.items() if m == member]:
                del g.owner[held]
            g.subscriptions.pop(member, None)
            g.last_poll.pop(member, None)
            g.target.pop(member, None)
        if stale:
            self.bus.rebalance(g)

    # -- reading ------------------------------------------------------------------
    def poll_batch(self, max_records: int, timeout_s: float) -> list[Message]:
        self._check_open()
        missing = sorted(self._topics - self.bus.topics.keys()) if self.subscribed else []
        if missing:  # as librdkafka reports it (topics are never auto-created)
            raise BusError(f"subscribed topic not available: {', '.join(missing)}")
        deadline = time.monotonic() + max(timeout_s, 0.0)
        while True:
            self._sync()
            with self.bus.cond:
                batch = self._fetch(max_records)
                remaining = deadline - time.monotonic()
                if batch or remaining <= 0:
                    return batch
                # Bounded wait: a member elsewhere may need our help to converge.
                self.bus.cond.wait(min(remaining, 0.1))

    def _limit(self, log: PartitionLog) -> int:
        return log.lso if self.read_committed else log.end

    def _fetch(self, max_records: int) -> list[Message]:
        out: list[Message] = []
        owned = self._owned
        if not owned:
            return out
        self._rotation = (self._rotation + 1) % len(owned)
        for tp in owned[self._rotation :] + owned[: self._rotation]:
            log = self.bus.log(tp)
            pos = self._positions[tp]
            if pos < log.base or pos > log.end:
                pos = log.base if self.auto_offset_reset == "earliest" else log.end
            limit = self._limit(log)
            while pos < limit and len(out) < max_records:
                i = pos - log.base
                txn = log.txns[i]
                if not (self.read_committed and txn is not None and txn.state is TxnState.ABORTED):
                    out.append(log.records[i])
                pos += 1
            self._positions[tp] = pos
            if len(out) >= max_records:
                break
        return out

    # -- offsets ------------------------------------------------------------------
    def commit(self, offsets: Mapping[TopicPartition, int]) -> None:
        with self.bus.cond:
            self._check_open()
            if self.subscribed:
                for tp in offsets:
                    if self.group.owner.get(tp) != self.member_id:
                        raise BusError(f"cannot commit {tp}: not assigned to this member")
            self.group.committed.update(offsets)

    def committed(self, partitions: Sequence[TopicPartition]) -> dict[TopicPartition, int]:
        with self.bus.cond:
            return {tp: self.group.committed.get(tp, -1) for tp in partitions}

    def seek(self, tp: TopicPartition, offset: int) -> None:
        with self.bus.cond:
            if tp not in self._positions:
                raise BusError(f"cannot seek {tp}: not assigned")
            self._positions[tp] = offset

    def position(self, tp: TopicPartition) -> int:
        """The offset of the next record this consumer will read from ``tp``."""
        with self.bus.cond:
            return self._positions[tp]

    def assignment(self) -> list[TopicPartition]:
        with self.bus.cond:
            return list(self._owned)

    def watermarks(self, tp: TopicPartition) -> tuple[int, int]:
        with self.bus.cond:
            log = self.bus.log(tp)
            return log.base, self._limit(log)

    def close(self) -> None:
        if self._closed:
            return
        if self.subscribed and self._owned:
            self._revoke(list(self._owned))
        with self.bus.cond:
            if self.subscribed:
                self._leave()
            self._owned, self._positions = [], {}
            self._closed = True

    def _check_open(self) -> None:
        if self._closed:
            raise BusError("consumer is closed")
