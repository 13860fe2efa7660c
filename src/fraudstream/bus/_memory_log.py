"""Storage of the in-process bus: partition logs, transactions and consumer groups.

These are plain data holders guarded by the bus's one lock; the public classes in
:mod:`fraudstream.bus.memory` do the locking and the protocol logic.
"""

from __future__ import annotations

import enum
import itertools
from dataclasses import dataclass, field

from fraudstream.bus.base import Message, TopicPartition


class TxnState(enum.Enum):
    OPEN = "open"
    COMMITTED = "committed"
    ABORTED = "aborted"


_txn_ids = itertools.count(1)


@dataclass(eq=False)
class Txn:
    """One transaction: the partitions it wrote to and the offsets it will commit."""

    txn_id: int = field(default_factory=lambda: next(_txn_ids))
    state: TxnState = TxnState.OPEN
    touched: set[PartitionLog] = field(default_factory=set)
    # group -> (member id or None for manual assignment, next-to-read offsets)
    offsets: dict[Group, tuple[int | None, dict[TopicPartition, int]]] = field(default_factory=dict)
    must_abort: str | None = None


class PartitionLog:
    """An append-only log of one partition.

    ``base`` is the offset of ``records[0]`` (it moves up when old records are
    trimmed); ``open_first`` maps each open transaction to its first offset here,
    so the last stable offset (LSO) is the smallest of them.
    """

    __slots__ = ("base", "open_first", "records", "tp", "txns")

    def __init__(self, tp: TopicPartition) -> None:
        self.tp = tp
        self.base = 0
        self.records: list[Message] = []
        self.txns: list[Txn | None] = []
        self.open_first: dict[int, int] = {}

    @property
    def end(self) -> int:
        return self.base + len(self.records)

    @property
    def lso(self) -> int:
        return min(self.open_first.values(), default=self.end)

    def append(self, msg: Message, txn: Txn | None) -> None:
        if txn is not None and txn.txn_id not in self.open_first:
            self.open_first[txn.txn_id] = msg.offset
            txn.touched.add(self)
        self.records.append(msg)
        self.txns.append(txn)

    def trim(self, keep: int) -> None:
        """Drop the oldest records beyond ``keep``, never past an open transaction."""
        if len(self.records) <= 2 * keep:
            return
        cut = min(len(self.records) - keep, self.lso - self.base)
        if cut > 0:
            del self.records[:cut]
            del self.txns[:cut]
            self.base += cut


@dataclass
class Topic:
    name: str
    logs: list[PartitionLog]
    compacted: bool = False
    round_robin: int = 0


@dataclass(eq=False)
class Group:
    """A consumer group: committed offsets, members and who owns what.

    ``target`` is the assignment of the latest rebalance; ``owner`` says which
    member really holds a partition now. A partition moves to its new member only
    after the old one has revoked it (cooperative, two-phase), so the old owner
    can commit its transaction first.
    """

    group_id: str
    committed: dict[TopicPartition, int] = field(default_factory=dict)
    subscriptions: dict[int, frozenset[str]] = field(default_factory=dict)
    target: dict[int, set[TopicPartition]] = field(default_factory=dict)
    owner: dict[TopicPartition, int] = field(default_factory=dict)
    last_poll: dict[int, float] = field(default_factory=dict)
    generation: int = 0


def sticky_assignment(
    subscriptions: dict[int, frozenset[str]],
    partition_counts: dict[str, int],
    previous: dict[int, set[TopicPartition]],
) -> dict[int, set[TopicPartition]]:
    """Balance each topic's partitions over its subscribers, moving as few as possible.

    Example:
        >>> a = sticky_assignment({1: frozenset({"t"}), 2: frozenset({"t"})}, {"t": 4}, {})
        >>> sorted(len(v) for v in a.values())
        [2, 2]
    """
    result: dict[int, set[TopicPartition]] = {m: set() for m in subscriptions}
    topics = sorted({t for subs in subscriptions.values() for t in subs if t in partition_counts})
    for t_index, topic in enumerate(topics):
        members = sorted(m for m, subs in subscriptions.items() if topic in subs)
        tps = [TopicPartition(topic, p) for p in range(partition_counts[topic])]
        prev_count = {m: sum(1 for tp in tps if tp in previous.get(m, ())) for m in members}
        base, extra = divmod(len(tps), len(members))
        # Members that already hold more keep the extra slots (less movement); the
        # rotation by topic index spreads single-partition topics over members.
        rotated = members[t_index % len(members) :] + members[: t_index % len(members)]
        ranked = sorted(rotated, key=lambda m: -prev_count[m])
        quota = {m: base + (1 if i < extra else 0) for i, m in enumerate(ranked)}
        count = dict.fromkeys(members, 0)
        free: list[TopicPartition] = []
        for tp in tps:
            holder = next((m for m in members if tp in previous.get(m, ())), None)
            if holder is not None and count[holder] < quota[holder]:
                result[holder].add(tp)
                count[holder] += 1
            else:
                free.append(tp)
        for tp in free:
            m = next(m for m in rotated if count[m] < quota[m])
            result[m].add(tp)
            count[m] += 1
    return result
