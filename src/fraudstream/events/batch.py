"""Columnar view of a batch of decoded transactions.

Decoding yields one dict per record (fastavro); detection wants columns. A
:class:`TransactionBatch` holds the dicts and builds each numpy column once, on
first use, so the hot path pays for the columns it reads and no more.
"""

from __future__ import annotations

from collections.abc import Sequence
from operator import itemgetter
from typing import Any

import numpy as np

_FLOAT_COLUMNS = frozenset({"amount"})
_INT_COLUMNS = frozenset({"event_time"})


class TransactionBatch:
    """A batch of transaction dicts (fields of ``transaction.avsc``) with cached columns.

    ``event_time`` is epoch milliseconds (int64) whatever form the decoder gave.

    Example:
        >>> b = TransactionBatch([{"amount": 1.5, "card_id": "c1", "event_time": 1000}])
        >>> b.col("amount").tolist(), b.col("card_id").tolist(), len(b)
        ([1.5], ['c1'], 1)
    """

    __slots__ = ("_cols", "records")

    def __init__(self, records: Sequence[dict[str, Any]]) -> None:
        self.records: list[dict[str, Any]] = list(records)
        self._cols: dict[str, np.ndarray] = {}

    def __len__(self) -> int:
        return len(self.records)

    def col(self, name: str) -> np.ndarray:
        """The column ``name`` as a numpy array (float64, int64 or object)."""
        cached = self._cols.get(name)
        if cached is not None:
            return cached
        return self._store(name, [r.get(name) for r in self.records])

    def prefetch(self, names: Sequence[str]) -> None:
        """Build several columns in one pass over the records (one C call per record).

        Detection reads a dozen columns; one ``itemgetter`` over each record and a
        transpose is about twice as fast as a comprehension per column. Records that
        lack a field fall back to :meth:`col` (missing means None).
        """
        todo = [n for n in dict.fromkeys(names) if n not in self._cols]
        if not todo or not self.records:
            return
        try:
            rows = list(map(itemgetter(*todo), self.records))
        except KeyError:
            for name in todo:
                self.col(name)
            return
        columns = zip(*rows, strict=True) if len(todo) > 1 else [tuple(rows)]
        for name, values in zip(todo, columns, strict=True):
            self._store(name, list(values))

    def _store(self, name: str, values: list[Any]) -> np.ndarray:
        arr: np.ndarray
        if name in _FLOAT_COLUMNS:
            arr = np.asarray(values, dtype=np.float64)
        elif name in _INT_COLUMNS:
            try:  # plain ints (epoch ms) convert in C; datetimes and None go one by one
                arr = np.asarray(values, dtype=np.int64)
            except (TypeError, ValueError):
                arr = np.asarray([_to_millis(v) for v in values], dtype=np.int64)
        else:
            arr = np.empty(len(values), dtype=object)
            arr[:] = values
        self._cols[name] = arr
        return arr

    def take(self, index: Sequence[int] | np.ndarray) -> TransactionBatch:
        """A new batch with the records at ``index``, in that order."""
        return TransactionBatch([self.records[int(i)] for i in index])


def _to_millis(value: Any) -> int:
    if isinstance(value, int):
        return value
    if value is None:
        return 0
    # datetime from fastavro's timestamp-millis logical type
    return int(value.timestamp() * 1000)
