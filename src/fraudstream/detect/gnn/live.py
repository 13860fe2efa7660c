"""The live transaction graph: an in-memory store that every event updates.

Nodes are typed entities (``card``, ``account``, ``customer``, ``merchant``,
``device``, ``ip``); a transaction links its card to each of the others it names
(and to the counterparty account of a transfer). Memory is bounded three ways:

- a cap on neighbours per node: the least recently seen neighbour is dropped
  first (a busy merchant keeps its ``max_neighbours`` latest cards, not all);
- time decay: flags decay with ``half_life_s``; edges older than ``edge_ttl_s``
  are ignored by the sampler and pruned on eviction;
- eviction of cold nodes: nodes unseen for ``cold_after_s`` are removed.

Storage is array-based: node keys map to dense slots (freed slots are reused);
per slot, a row of ``max_neighbours`` neighbour slots in recency order with their
link times (to the second), node statistics and the model's node features, kept
up to date as events arrive. Updates and sampling are vectorised over the batch
(:mod:`~fraudstream.detect.gnn.live_ops`).

State is a pure function of the events replayed into it, so after a crash the
graph is rebuilt by replaying a window of the ``transactions`` topic
(:meth:`LiveGraph.rebuild`), the window being ``cold_after_s`` long.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from fraudstream.detect.gnn.live_ops import merge_rows, sample_khop
from fraudstream.errors import ValidationError
from fraudstream.events.batch import TransactionBatch

logger = logging.getLogger(__name__)

NODE_TYPES = ("card", "account", "customer", "merchant", "device", "ip")
# (transaction field, node type) linked to the card.
LINKS = (
    ("account_id", "account"),
    ("customer_id", "customer"),
    ("merchant_id", "merchant"),
    ("device_id", "device"),
    ("ip_address", "ip"),
    ("counterparty_account_id", "account"),
)
# Model inputs per node. Flags are not among them: they come from analysts' verdicts
# whose delay differs between history and live traffic; they feed the reasons only.
NODE_FEATURES = (*(f"is_{t}" for t in NODE_TYPES), "log_tx", "log_amount_mean", "log_degree")
_LINK_SPEC = tuple((f, t, NODE_TYPES.index(t)) for f, t in LINKS)
_K0 = len(NODE_TYPES)
# Link times are kept as int32 seconds since 2020-01-01 (valid 1952-2088).
_T0_S = 1_577_836_800


@dataclass(slots=True)
class LiveGraphConfig:
    """Bounds of the live graph (see module docstring)."""

    max_neighbours: int = 32
    half_life_s: float = 86_400.0
    edge_ttl_s: float = 7 * 86_400.0
    cold_after_s: float = 7 * 86_400.0
    evict_every: int = 50_000


@dataclass(slots=True)
class NodeView:
    """A read-only snapshot of one node (``LiveGraph.nodes[key]``)."""

    key: str
    ntype: int
    tx: int
    amount_sum: float
    last_ms: int
    flag: float
    flag_ms: int
    # neighbour key -> last time seen together (ms, to the second); least recent first
    nbrs: dict[str, int] = field(default_factory=dict)


class _NodesView(Mapping[str, NodeView]):
    """``key -> NodeView`` over the arrays (built on access: for tests and tools)."""

    def __init__(self, graph: LiveGraph) -> None:
        self._g = graph

    def __getitem__(self, key: str) -> NodeView:
        return self._g._view(self._g._index[key])

    def __iter__(self) -> Iterator[str]:
        return iter(self._g._index)

    def __len__(self) -> int:
        return len(self._g._index)

    def __contains__(self, key: object) -> bool:
        return key in self._g._index


class LiveGraph:
    """Bounded, incrementally updated heterogeneous transaction graph.

    Example:
        >>> g = LiveGraph()
        >>> g.update([{"card_id": "c1", "device_id": "d1", "amount": 10.0, "event_time": 0},
        ...           {"card_id": "c2", "device_id": "d1", "amount": 5.0, "event_time": 1000}])
        >>> sorted(g.neighbours("device:d1")), g.num_nodes
        (['card:c1', 'card:c2'], 3)
    """

    def __init__(self, config: LiveGraphConfig | None = None, capacity: int = 1024) -> None:
        self.config = config or LiveGraphConfig()
        self.now_ms = 0
        self.events = 0
        self._decay_per_ms = math.log(2) / (self.config.half_life_s * 1000.0)
        self._index: dict[str, int] = {}
        self._keys: list[str | None] = []
        self._free: list[int] = []
        self._born: list[tuple[int, int]] = []
        c, k = max(capacity, 16), self.config.max_neighbours
        self.ntype = np.zeros(c, np.int8)
        self.tx = np.zeros(c, np.int64)
        self.amount = np.zeros(c, np.float64)
        self.last = np.zeros(c, np.int64)
        self.flag_w = np.zeros(c, np.float64)
        self.flag_ms = np.zeros(c, np.int64)
        self.deg = np.zeros(c, np.int32)
        self.nbr = np.full((c, k), -1, np.int32)
        self.nbr_t = np.zeros((c, k), np.int32)  # link time, epoch seconds
        self.x = np.zeros((c, len(NODE_FEATURES)), np.float32)
        # Per slot, the update count at which its ``x`` row last changed: lets
        # per-node caches (the encoder's output) refresh only the stale rows.
        self.x_ver = np.zeros(c, np.int64)
        self.updates = 0
        self._local = np.full(c, -1, np.int64)  # sampler scratch

    # -- sizes and views ------------------------------------------------------------
    @property
    def num_nodes(self) -> int:
        return len(self._index)

    @property
    def num_edges(self) -> int:
        """Directed adjacency entries (each link is stored on both ends)."""
        return int(self.deg.sum())

    @property
    def nodes(self) -> Mapping[str, NodeView]:
        """``key -> NodeView`` snapshots (slow: tests and tools, not the hot path)."""
        return _NodesView(self)

    def nbytes(self) -> int:
        """Bytes held by the arrays (the key index comes on top)."""
        arrays = (self.ntype, self.tx, self.amount, self.last, self.flag_w, self.flag_ms)
        more = (self.deg, self.nbr, self.nbr_t, self.x, self.x_ver, self._local)
        return sum(a.nbytes for a in (*arrays, *more))

    def slot(self, key: str) -> int:
        """Dense index of ``key``, or -1."""
        return self._index.get(key, -1)

    def keys_of(self, slots: Iterable[int]) -> list[str]:
        return [self._keys[int(s)] or "" for s in slots]

    def _view(self, s: int) -> NodeView:
        d = int(self.deg[s])
        nb = self.keys_of(self.nbr[s, :d])
        ts = ((self.nbr_t[s, :d].astype(np.int64) + _T0_S) * 1000).tolist()
        return NodeView(
            key=self._keys[s] or "",
            ntype=int(self.ntype[s]),
            tx=int(self.tx[s]),
            amount_sum=float(self.amount[s]),
            last_ms=int(self.last[s]),
            flag=float(self.flag_w[s]),
            flag_ms=int(self.flag_ms[s]),
            nbrs=dict(zip(nb, ts, strict=True)),
        )

    def neighbours(self, key: str) -> list[str]:
        s = self.slot(key)
        return self.keys_of(self.nbr[s, : self.deg[s]]) if s >= 0 else []

    # -- slots -----------------------------------------------------------------------
    def _grow(self) -> None:
        old = self.ntype.shape[0]
        new = old * 2
        for name in ("ntype", "tx", "amount", "last", "flag_w", "flag_ms", "deg", "x", "x_ver"):
            a = getattr(self, name)
            b = np.zeros((new, *a.shape[1:]), a.dtype)
            b[:old] = a
            setattr(self, name, b)
        nbr = np.full((new, self.nbr.shape[1]), -1, np.int32)
        nbr[:old] = self.nbr
        self.nbr = nbr
        nbr_t = np.zeros((new, self.nbr.shape[1]), np.int32)
        nbr_t[:old] = self.nbr_t
        self.nbr_t = nbr_t
        self._local = np.full(new, -1, np.int64)

    def _new_slot(self, key: str, ntype: int) -> int:
        if self._free:
            s = self._free.pop()
            self._keys[s] = key
        else:
            s = len(self._keys)
            if s >= self.ntype.shape[0]:
                self._grow()
            self._keys.append(key)
        self._index[key] = s
        self._born.append((s, ntype))  # typed in one numpy write per batch (_apply)
        return s

    # -- updates ---------------------------------------------------------------------
    def update(self, records: Iterable[Mapping[str, Any]]) -> None:
        """Add each transaction's links; raises on a record without ``card_id``."""
        self.ingest(list(records))

    def ingest(
        self, records: Sequence[Mapping[str, Any]], event_time_ms: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Add a batch of transactions (in order) and return where they landed.

        Args:
            records: transaction dicts (``card_id`` required).
            event_time_ms: their ``event_time`` in epoch ms, if already computed.

        Returns:
            The card slot per record ``[n]`` and the linked slots per record
            ``[n, len(LINKS)]`` (``-1``: field absent), valid until the next update.

        Raises:
            ValidationError: a record has no ``card_id`` (nothing is applied).
        """
        recs = list(records)
        if any(not r.get("card_id") for r in recs):
            raise ValidationError("transaction without card_id", field="card_id")
        n = len(recs)
        if event_time_ms is None:
            event_time_ms = TransactionBatch(recs).col("event_time")  # type: ignore[arg-type]
        times = np.asarray(event_time_ms, dtype=np.int64)
        cards = np.empty(n, np.int64)
        others = np.empty((n, len(LINKS)), np.int64)
        every = self.config.evict_every
        start, evicted = 0, False
        # Eviction runs after every ``evict_every``-th event, wherever batches split.
        while start < n:
            end = min(n, start + every - self.events % every)
            cards[start:end], others[start:end] = self._apply(recs[start:end], times[start:end])
            self.events += end - start
            if self.events % every == 0:
                self.evict()
                evicted = True
            start = end
        if evicted:  # slots of this batch may have been freed or reused
            cards[:] = [self.slot(f"card:{r['card_id']}") for r in recs]
            others[:] = [
                [self.slot(f"{t}:{r[f]}") if r.get(f) else -1 for f, t, _ in _LINK_SPEC]
                for r in recs
            ]
        return cards, others

    def _apply(
        self, recs: Sequence[Mapping[str, Any]], t: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        get, new = self._index.get, self._new_slot
        columns: list[list[int]] = []
        # Column by column (comprehensions): the only per-record Python work, key -> slot.
        for fld, ntype, tid in (("card_id", "card", 0), *_LINK_SPEC):
            keys = [f"{ntype}:{v}" if (v := r.get(fld)) else None for r in recs]
            got: list[int | None] = [get(k) if k is not None else -1 for k in keys]
            if None in got:  # unseen keys get a slot, in record order
                for i, s in enumerate(got):
                    if s is None:
                        k = keys[i] or ""
                        s = get(k)
                        got[i] = new(k, tid) if s is None else s
            columns.append(got)  # type: ignore[arg-type]
        if self._born:
            born = np.asarray(self._born, np.int64)
            self.ntype[born[:, 0]] = born[:, 1]
            self.x[born[:, 0], born[:, 1]] = 1.0
            self._born.clear()
        c = np.asarray(columns[0], np.int64)
        o = np.asarray(columns[1:], np.int64).T.reshape(len(recs), len(LINKS))
        amt = np.asarray([float(r.get("amount") or 0.0) for r in recs], np.float64)
        if len(recs) == 0:
            return c, o
        self.now_ms = max(self.now_ms, int(t.max()))
        m = o >= 0
        t_links = np.broadcast_to(t[:, None], o.shape)[m]
        touched = np.concatenate([c, o[m]])
        np.add.at(self.tx, touched, 1)
        np.add.at(
            self.amount, touched, np.concatenate([amt, np.broadcast_to(amt[:, None], o.shape)[m]])
        )
        np.maximum.at(self.last, touched, np.concatenate([t, t_links]))
        a = np.broadcast_to(c[:, None], o.shape)[m]
        b = o[m]
        ts = (t_links // 1000 - _T0_S).astype(np.int32)
        merge_rows(self.nbr, self.nbr_t, self.deg, np.concatenate([a, b]), np.concatenate([b, a]),
                   np.concatenate([ts, ts]))  # fmt: skip
        upd = np.unique(touched)
        tx = self.tx[upd]
        self.x[upd, _K0] = np.log1p(tx)
        self.x[upd, _K0 + 1] = np.log1p(self.amount[upd] / np.maximum(tx, 1))
        self.x[upd, _K0 + 2] = np.log1p(self.deg[upd])
        self.updates += 1
        self.x_ver[upd] = self.updates
        return c, o

    # -- flags -----------------------------------------------------------------------
    def flag(self, keys: Iterable[str], event_time_ms: int, weight: float = 1.0) -> None:
        """Mark nodes (``card:<id>`` ...) as flagged (an alert or a fraud verdict)."""
        slots = [s for s in (self.slot(k) for k in keys) if s >= 0]
        self.flag_slots(np.asarray(slots, np.int64), event_time_ms, weight)

    def flag_slots(self, slots: np.ndarray, event_time_ms: int, weight: float = 1.0) -> None:
        """:meth:`flag` by slot; a slot listed twice is flagged twice."""
        s = slots[slots >= 0]
        if s.size == 0:
            return
        uq, cnt = np.unique(s, return_counts=True)
        self.flag_w[uq] = self.flag_values(uq, event_time_ms) + weight * cnt
        self.flag_ms[uq] = event_time_ms

    def flag_values(self, slots: np.ndarray, now_ms: int) -> np.ndarray:
        """Flag weights of ``slots`` decayed to ``now_ms``."""
        age = np.maximum(0, now_ms - self.flag_ms[slots])
        return self.flag_w[slots] * np.exp(-self._decay_per_ms * age)

    def flag_value(self, node: NodeView, now_ms: int) -> float:
        """The node's flag weight decayed to ``now_ms``."""
        if node.flag == 0.0:
            return 0.0
        return node.flag * math.exp(-self._decay_per_ms * max(0, now_ms - node.flag_ms))

    def flagged_neighbours(self, key: str, now_ms: int, min_flag: float = 0.5) -> int:
        """How many neighbours of ``key`` carry a live flag of at least ``min_flag``."""
        s = self.slot(key)
        if s < 0:
            return 0
        nb = self.nbr[s, : self.deg[s]].astype(np.int64)
        return int(np.count_nonzero(self.flag_values(nb, now_ms) >= min_flag))

    # -- eviction --------------------------------------------------------------------
    def evict(self, now_ms: int | None = None) -> int:
        """Drop cold nodes and stale links; returns how many nodes were evicted."""
        now = self.now_ms if now_ms is None else now_ms
        cold = now - int(self.config.cold_after_s * 1000)
        ttl_s = (now - int(self.config.edge_ttl_s * 1000)) // 1000 - _T0_S
        n = len(self._keys)
        used = np.zeros(n, bool)
        used[np.fromiter(self._index.values(), np.int64, len(self._index))] = True
        dead = np.nonzero(used & (self.last[:n] < cold))[0]
        for s in dead.tolist():
            del self._index[self._keys[s] or ""]
            self._keys[s] = None
        self._free.extend(dead.tolist())
        used[dead] = False
        for a in (self.ntype, self.tx, self.amount, self.last, self.flag_w, self.flag_ms):
            a[dead] = 0
        self.deg[dead], self.nbr[dead], self.x[dead] = 0, -1, 0.0
        rows = self.nbr[:n]
        valid = rows >= 0
        keep = valid & (self.nbr_t[:n] >= ttl_s) & used[np.maximum(rows, 0)]
        changed = np.nonzero((keep != valid).any(axis=1))[0]
        if changed.size:
            kc = keep[changed]
            order = np.argsort(~kc, axis=1, kind="stable")  # survivors left, in order
            packed = np.where(kc, rows[changed], -1)
            self.nbr[changed] = np.take_along_axis(packed, order, 1)
            packed_t = np.where(kc, self.nbr_t[changed], 0)
            self.nbr_t[changed] = np.take_along_axis(packed_t, order, 1)
            self.deg[changed] = kc.sum(axis=1)
            live = changed[used[changed]]
            self.x[live, _K0 + 2] = np.log1p(self.deg[live])
        self.updates += 1
        self.x_ver[dead] = self.updates
        if changed.size:
            self.x_ver[changed] = self.updates
        if dead.size:
            logger.info("live graph: evicted %d cold nodes, %d left", dead.size, self.num_nodes)
        return int(dead.size)

    # -- model inputs ----------------------------------------------------------------
    def node_features(self, keys: list[str]) -> np.ndarray:
        """float32 [len(keys), len(NODE_FEATURES)]; unknown keys get the type one-hot only."""
        out = np.zeros((len(keys), len(NODE_FEATURES)), dtype=np.float32)
        for i, key in enumerate(keys):
            s = self.slot(key)
            if s >= 0:
                out[i] = self.x[s]
                continue
            t = key.split(":", 1)[0]
            if t in NODE_TYPES:
                out[i, NODE_TYPES.index(t)] = 1.0
        return out

    def sample(
        self, seeds: list[str], hops: int = 2, fanout: int | Sequence[int] = 16
    ) -> tuple[list[str], np.ndarray]:
        """The ``hops``-hop neighbourhood of ``seeds`` with at most ``fanout`` most
        recent live neighbours per node (per hop if ``fanout`` is a sequence).

        Returns:
            node keys (seeds first, in order, duplicates kept once) and int64
            ``edge_index [2, E]`` over their positions, both directions.
        """
        uniq = list(dict.fromkeys(seeds))
        slots = np.asarray([self.slot(k) for k in uniq], np.int64)
        nodes, ei, _ = self.sample_slots(slots, hops, fanout)
        return uniq + self.keys_of(nodes[len(uniq) :]), ei

    def recent(self, slots: np.ndarray, fanout: int) -> tuple[np.ndarray, np.ndarray]:
        """Per slot, its ``fanout`` most recent live neighbours, as a padded row.

        Returns:
            int64 neighbour slots ``[n, fanout]`` (0 where masked) and the mask
            (``-1`` slots have no neighbours).
        """
        min_t = (self.now_ms - int(self.config.edge_ttl_s * 1000)) // 1000 - _T0_S
        cap = self.nbr.shape[1]
        s = np.maximum(slots, 0)
        d = np.where(slots >= 0, self.deg[s], 0).astype(np.int64)
        steps = np.arange(min(fanout, cap))
        cols = np.maximum(d - steps.size, 0)[:, None] + steps[None, :]
        ok = cols < d[:, None]
        cols = np.minimum(cols, cap - 1)
        nb = self.nbr[s[:, None], cols].astype(np.int64)
        ok &= self.nbr_t[s[:, None], cols] >= min_t
        nb[~ok] = 0
        return nb, ok

    def sample_slots(
        self, seeds: np.ndarray, hops: int = 2, fanout: int | Sequence[int] = 16
    ) -> tuple[np.ndarray, np.ndarray, list[int]]:
        """:meth:`sample` over distinct slots (``-1``: unknown).

        Returns:
            slots, ``edge_index`` and the hop ends of :func:`~.live_ops.sample_khop`.
        """
        min_t = (self.now_ms - int(self.config.edge_ttl_s * 1000)) // 1000 - _T0_S
        return sample_khop(self.nbr, self.nbr_t, self.deg, self._local,
                           np.asarray(seeds, np.int64), hops, fanout, min_t)  # fmt: skip

    def edge_index(self) -> tuple[list[str], np.ndarray]:
        """All node keys and the whole adjacency ``[2, E]`` (owner -> neighbour)."""
        keys = list(self._index)
        slots = np.fromiter(self._index.values(), np.int64, len(keys))
        pos = np.full(self.ntype.shape[0], -1, np.int64)
        pos[slots] = np.arange(len(keys))
        valid = np.arange(self.nbr.shape[1])[None, :] < self.deg[slots][:, None]
        src = np.broadcast_to(pos[slots][:, None], valid.shape)[valid]
        dst = pos[self.nbr[slots][valid]]
        return keys, np.stack([src, dst]).astype(np.int64)

    @classmethod
    def rebuild(
        cls, records: Iterable[Mapping[str, Any]], config: LiveGraphConfig | None = None
    ) -> LiveGraph:
        """A graph rebuilt after a crash by replaying a window of transactions."""
        g = cls(config)
        g.update(records)
        return g
