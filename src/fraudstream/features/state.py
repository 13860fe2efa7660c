"""Compact binary state of the online features (layout documented in ``online``).

Helpers to read all keys of a batch with one ``frombuffer`` and write them back
with one ``tobytes``; shared by the per-kind updaters.
"""

from __future__ import annotations

from collections import defaultdict, deque
from itertools import count

import numpy as np

from fraudstream.detect.base import KeyValueStore
from fraudstream.features.windows import dense_ids, run_ends

EVENT = np.dtype([("t", "<i8"), ("amount", "<f8")])
CARD = np.dtype([("t", "<i8"), ("amount", "<f8"), ("a", "<i8"), ("b", "<i8")])
EMPTY_CARD = bytes(2 * CARD.itemsize)
STATE_PREFIX = "w1/"


def ranges(starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Concatenated ``arange(s, s + l)`` for each pair, vectorised."""
    total = int(lengths.sum())
    if total == 0:
        return np.zeros(0, dtype=np.int64)
    ends = np.cumsum(lengths)
    return np.repeat(starts - (ends - lengths), lengths) + np.arange(total)


def group_keys(values: np.ndarray) -> tuple[np.ndarray, np.ndarray, list[object]]:
    """(batch rows with a key, group id per such row, distinct keys in first-seen order)."""
    # One C-level pass: a key's first lookup draws the next id, later ones find it.
    index: defaultdict[object, int] = defaultdict(count().__next__)
    ids = np.fromiter(map(index.__getitem__, values.tolist()), dtype=np.int64, count=len(values))
    if None not in index:
        return np.arange(ids.shape[0]), ids, list(index)
    none_id = index.pop(None)
    rows = np.flatnonzero(ids != none_id)
    gid = ids[rows]
    gid -= gid > none_id  # ids after None's move down by one
    return rows, gid, list(index)


def tail_mask(gid: np.ndarray, t: np.ndarray, keep_ms: int, cap: int) -> np.ndarray:
    """Rows to keep per group: within ``keep_ms`` of the group's last time, last ``cap``."""
    n = gid.shape[0]
    last = np.flatnonzero(run_ends(gid))
    dense = dense_ids(gid)
    last_row = last[dense]
    return (t > t[last_row] - keep_ms) & (last_row - np.arange(n) < cap)


def store_keys(prefix: str, keys: list[object]) -> list[str]:
    """The store keys of a batch's distinct key values."""
    return list(map(prefix.__add__, map(str, keys)))


def read_groups(store: KeyValueStore, keys: list[str], empty: bytes) -> list[bytes]:
    """One get per key; ``empty`` for keys not in the store."""
    blobs = list(map(store.get, keys))
    # all() is a C truth test per item; ``None in blobs`` compares every bytes to None.
    if all(blobs):
        return blobs  # type: ignore[return-value]
    return [b if b is not None else empty for b in blobs]


def write_groups(
    store: KeyValueStore, keys: list[str], buf: bytes, counts: np.ndarray, size: int
) -> None:
    """Write ``buf`` (records of ``size`` bytes, grouped by key) back, one put per key."""
    ends = (np.cumsum(counts) * size).tolist()
    starts = [0, *ends[:-1]]
    deque(map(store.put, keys, [buf[a:b] for a, b in zip(starts, ends, strict=True)]), maxlen=0)
