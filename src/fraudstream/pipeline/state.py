"""Per-partition state with changelog capture, savepoints and transactional undo.

Each input partition owns one :class:`PartitionStore`. Every write is remembered
until the Kafka transaction that carries it commits: :meth:`changelog` gives the
net changes (the last value per key, ``None`` for a delete) that go to the
compacted changelog topic *inside the same transaction* as the outputs and the
consumer offsets, and :meth:`abort` undoes them when the transaction aborts. So
the state rebuilt from the changelog after a crash is exactly the state of the
last committed transaction, which is the state of a crash-free run at that offset.

Savepoints (:meth:`savepoint`, :meth:`rollback`, :meth:`release`) let the
processor undo the writes of a scorer call that raised half way through a batch.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator

logger = logging.getLogger(__name__)

_MISSING = object()


class PartitionStore:
    """In-memory key-value state of one input partition (implements ``KeyValueStore``).

    Example:
        >>> s = PartitionStore(partition=0)
        >>> s.put("card:c1", b"\\x01")
        >>> s.changelog()
        [('card:c1', b'\\x01')]
        >>> s.abort()
        >>> s.get("card:c1") is None
        True
    """

    __slots__ = ("_data", "_undo", "partition")

    def __init__(self, partition: int, data: dict[str, bytes] | None = None) -> None:
        self.partition = partition
        self._data: dict[str, bytes] = dict(data or {})
        # A stack of undo logs: [0] covers the open transaction, the rest are savepoints.
        # Each maps key -> value before the first write in that scope (_MISSING = absent).
        self._undo: list[dict[str, object]] = [{}]

    # -- KeyValueStore ---------------------------------------------------------
    def get(self, key: str) -> bytes | None:
        return self._data.get(key)

    def put(self, key: str, value: bytes) -> None:
        self._remember(key)
        self._data[key] = value

    def delete(self, key: str) -> None:
        if key in self._data:
            self._remember(key)
            del self._data[key]

    def keys(self) -> Iterable[str]:
        return list(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def items(self) -> Iterator[tuple[str, bytes]]:
        return iter(self._data.items())

    def snapshot(self) -> dict[str, bytes]:
        """A copy of the whole state (tests and the chaos check compare these)."""
        return dict(self._data)

    def _remember(self, key: str) -> None:
        for undo in self._undo:
            if key not in undo:
                undo[key] = self._data.get(key, _MISSING)

    # -- savepoints (one scorer call) -------------------------------------------
    def savepoint(self) -> None:
        """Open a nested scope whose writes :meth:`rollback` can undo."""
        self._undo.append({})

    def release(self) -> None:
        """Keep the writes of the innermost savepoint."""
        if len(self._undo) > 1:
            self._undo.pop()

    def rollback(self) -> None:
        """Undo the writes of the innermost savepoint and close it."""
        if len(self._undo) > 1:
            self._restore(self._undo.pop())

    # -- transaction -------------------------------------------------------------
    @property
    def dirty(self) -> bool:
        return bool(self._undo[0])

    def changelog(self) -> list[tuple[str, bytes | None]]:
        """Net changes of the open transaction: (key, value or None for a delete)."""
        return [(k, self._data.get(k)) for k in self._undo[0]]

    def commit(self) -> None:
        """The transaction carrying :meth:`changelog` committed: forget the undo log."""
        self._undo = [{}]

    def abort(self) -> None:
        """The transaction aborted: put every key back as it was when it began."""
        while len(self._undo) > 1:
            self._restore(self._undo.pop())
        self._restore(self._undo[0])
        self._undo = [{}]

    def _restore(self, undo: dict[str, object]) -> None:
        for key, old in undo.items():
            if old is _MISSING:
                self._data.pop(key, None)
            else:
                assert isinstance(old, bytes)
                self._data[key] = old

    # -- restore from the changelog -------------------------------------------------
    def apply_changelog(self, key: bytes | None, value: bytes | None) -> None:
        """Replay one committed changelog record (no undo: it is already durable)."""
        if key is None:
            logger.warning("changelog record without key in partition %d skipped", self.partition)
            return
        k = key.decode("utf-8")
        if value is None:
            self._data.pop(k, None)
        else:
            self._data[k] = value


def changelog_topic(group_id: str, input_topic: str | None = None) -> str:
    """Name of the compacted changelog topic of a group's state (of one more input topic).

    The transactions' state uses ``<group_id>-state-changelog``; another input topic
    (user events) gets ``<group_id>-<topic>-state-changelog``.
    """
    if input_topic is None:
        return f"{group_id}-state-changelog"
    return f"{group_id}-{input_topic}-state-changelog"
