"""Online (serving) features: the contract over a batch, with per-key state in the store.

Per batch and per key kind (card, account, device, IP) the keys present are read
from the :class:`~fraudstream.detect.base.KeyValueStore` once, decoded together
with one ``np.frombuffer``, laid out in front of the batch's own rows and run
through the same kernels as the offline path; the new state is encoded with one
``tobytes`` and written back once per key. State is bounded: events whose time is
more than 24 h before the key's latest event are dropped, and at most
``max_events`` events and ``max_seen`` first-seen devices / countries are kept per
key (beyond those caps online and offline may differ; see docs/detection.md).

State layout (little-endian, versioned by the key prefix ``w1/``):

* account / device / IP ``w1/<kind>/<id>``: records ``(t_ms int64, amount float64)``.
* card ``w1/card/<id>``: 32-byte records ``(t, amount, a, b)``: two header records
  ``(n_events, history_sum, n_devices, n_countries)`` and
  ``(history_count, history_sum_sq, 0, 0)``, then the events (``a`` = merchant
  hash, ``b`` = country hash), the seen devices and the seen countries (``t`` =
  last seen, ``a`` = hash).
"""

from __future__ import annotations

import numpy as np

from fraudstream.detect.base import KeyValueStore
from fraudstream.events.batch import TransactionBatch
from fraudstream.features.contract import (
    FEATURE_NAMES,
    MAX_WINDOW_SECONDS,
    STATELESS_FEATURES,
    WINDOW_KEYS,
)
from fraudstream.features.keyed import window_block
from fraudstream.features.online_card import card_update
from fraudstream.features.state import (
    EVENT,
    STATE_PREFIX,
    group_keys,
    read_groups,
    store_keys,
    tail_mask,
    write_groups,
)
from fraudstream.features.stateless import STATELESS_INPUTS, stateless_features
from fraudstream.features.windows import segmented_cummax

# Every transaction field the online features read (built in one pass per batch).
ONLINE_INPUTS: tuple[str, ...] = (
    *STATELESS_INPUTS,
    *(f for _, f in WINDOW_KEYS if f not in STATELESS_INPUTS),
    "merchant_id",
)


class OnlineFeatures:
    """Computes :data:`FEATURE_NAMES` for a batch, reading and updating per-key state.

    Example:
        >>> from fraudstream.pipeline.state import PartitionStore
        >>> store = PartitionStore(0)
        >>> f = OnlineFeatures()
        >>> b = TransactionBatch([{"card_id": "c", "amount": 5.0, "event_time": 0}])
        >>> x1 = f.transform(b, store); x2 = f.transform(b, store)
        >>> from fraudstream.features.contract import FEATURE_INDEX as I
        >>> float(x1[0, I["count_by_card_1m"]]), float(x2[0, I["count_by_card_1m"]])
        (1.0, 2.0)
    """

    def __init__(self, max_events: int = 1024, max_seen: int = 32) -> None:
        self.max_events = max_events
        self.max_seen = max_seen
        self.keep_ms = MAX_WINDOW_SECONDS * 1000

    def transform(self, batch: TransactionBatch, store: KeyValueStore) -> np.ndarray:
        """Features ``[len(batch), len(FEATURE_NAMES)]`` in batch order; updates ``store``."""
        n = len(batch)
        out = np.full((n, len(FEATURE_NAMES)), np.nan)
        if n == 0:
            return out
        batch.prefetch(ONLINE_INPUTS)
        out[:, : len(STATELESS_FEATURES)] = stateless_features(
            {c: batch.col(c) for c in STATELESS_INPUTS}
        )
        col = len(STATELESS_FEATURES)
        simple: list[tuple[str, str, int]] = []
        for name, field in WINDOW_KEYS:
            if name == "card":
                card_update(self, batch, store, out, col)
            else:
                simple.append((name, field, col))
            col += 6
        self._simple(simple, batch, store, out)
        return out

    def _simple(
        self,
        kinds: list[tuple[str, str, int]],
        batch: TransactionBatch,
        store: KeyValueStore,
        out: np.ndarray,
    ) -> None:
        """Account, device and IP windows in one pass: their groups side by side."""
        parts_rows: list[np.ndarray] = []
        parts_gid: list[np.ndarray] = []
        parts_col: list[np.ndarray] = []
        skeys: list[str] = []
        for name, field, col in kinds:
            rows, bgid, uniq = group_keys(batch.col(field))
            parts_rows.append(rows)
            parts_gid.append(bgid + len(skeys))
            parts_col.append(np.full(rows.shape[0], col, dtype=np.int64))
            skeys += store_keys(f"{STATE_PREFIX}{name}/", uniq)
        if not skeys:
            return
        rows, bgid, bcol = (np.concatenate(p) for p in (parts_rows, parts_gid, parts_col))
        blobs = read_groups(store, skeys, b"")
        hist = np.frombuffer(b"".join(blobs), dtype=EVENT)
        n_hist = hist.shape[0]
        hlen = np.fromiter(map(len, blobs), dtype=np.int64, count=len(blobs)) // EVENT.itemsize
        gid = np.concatenate((np.repeat(np.arange(len(skeys)), hlen), bgid))
        order = np.argsort(gid, kind="stable")
        gid = gid[order]
        t = segmented_cummax(gid, np.concatenate((hist["t"], batch.col("event_time")[rows]))[order])
        amount = np.concatenate((hist["amount"], batch.col("amount")[rows]))[order]
        q = np.flatnonzero(order >= n_hist)
        b = order[q] - n_hist
        out[rows[b, None], bcol[b, None] + np.arange(6)] = window_block(gid, t, amount, q)
        keep = tail_mask(gid, t, self.keep_ms, self.max_events)
        new = np.empty(int(keep.sum()), dtype=EVENT)
        new["t"], new["amount"] = t[keep], amount[keep]
        counts = np.bincount(gid[keep], minlength=len(skeys))
        write_groups(store, skeys, new.tobytes(), counts, EVENT.itemsize)
