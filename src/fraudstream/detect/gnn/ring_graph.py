"""A typed, causal transaction graph and its per-batch heterogeneous samples.

The ring model (:mod:`fraudstream.detect.gnn.hetero`) reads the stream as a
heterogeneous graph: ``card``, ``device``, ``ip``, ``merchant`` and ``account``
nodes, one typed relation per transaction field that links the card to another
entity (``uses`` a device, ``from_ip``, ``buys_at`` a merchant, ``holds`` its
account, ``pays`` a counterparty account), each stored in both directions.

Causality is the serving one: batches are taken in event order, each batch
updates the graph and only then are its transactions sampled, so a transaction
sees the past and its own batch, never a later batch. Training samples come out
of the same code path as live scoring, so the model never sees features that
the online system would not have (no end-of-history counts, no labels).

Node features carry the ring and mule structure rather than identities (the
model is inductive): per relation, how many distinct neighbours a node has (all
kept, last 24 h, last hour), its activity, age and idleness, and, for accounts,
inbound transfers (how many, how long ago, how much): a mule's account has just
been paid when its card pays on.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from fraudstream.errors import ValidationError

NODE_TYPES = ("card", "device", "ip", "merchant", "account")
# (transaction field, node type, relation from the card to that node)
LINKS = (
    ("device_id", "device", "uses"),
    ("ip_address", "ip", "from_ip"),
    ("merchant_id", "merchant", "buys_at"),
    ("account_id", "account", "holds"),
    ("counterparty_account_id", "account", "pays"),
)
RELATIONS = tuple(rel for _, _, rel in LINKS)
EDGE_TYPES: tuple[tuple[str, str, str], ...] = tuple(
    et for _, t, rel in LINKS for et in (("card", rel, t), (t, f"rev_{rel}", "card"))
)
# The transaction's endpoints, in the order the model's head reads them.
ENDPOINTS = (("card", "card_id"), *((t, f) for f, t, _ in LINKS))
NODE_DIM = 4 + 3 * len(RELATIONS) + 4
CHANNELS = ("POS", "ECOM", "ATM", "TRANSFER")
TX_TYPES = ("PURCHASE", "TRANSFER", "CASH_OUT")
TX_DIM = 1 + len(CHANNELS) + len(TX_TYPES)
_HOUR_MS = 3_600_000
_DAY_MS = 24 * _HOUR_MS
_ZEROS = [0.0] * NODE_DIM
_LOG1P = [math.log1p(i) for i in range(256)]  # neighbour counts are capped by max_neighbours


@dataclass(slots=True)
class RingGraphConfig:
    """Bounds: neighbours kept per node and relation (least recent dropped), edge TTL,
    and the sampler's fan-out per hop."""

    max_neighbours: int = 32  # at most 255 (the log-count table below)
    edge_ttl_s: float = 7 * 86_400.0
    fanout: tuple[int, ...] = (10, 5)


class _Node:
    __slots__ = ("amount", "first", "in_amount", "in_last", "in_n", "last", "nbrs", "ntype", "tx")

    def __init__(self, ntype: str, t: int) -> None:
        self.ntype = ntype
        self.tx = 0
        self.amount = 0.0
        self.first = t
        self.last = t
        self.in_n = 0
        self.in_last = -1
        self.in_amount = 0.0
        # relation -> neighbour key -> last time linked; insertion order = recency
        self.nbrs: dict[str, dict[str, int]] = {}


@dataclass
class HeteroSample:
    """One batch as a heterogeneous subgraph (numpy; see :func:`to_torch` in hetero.py).

    ``x[t]``: float32 node features of type ``t``; ``edge_index[et]``: int64
    ``[2, E]`` local indices; ``endpoints[name]``: per transaction, the local index
    of its endpoint of that name (-1: the field is empty); ``tx_x``: transaction
    features; ``y``: ground truth (used for training and evaluation only).
    """

    x: dict[str, np.ndarray]
    edge_index: dict[tuple[str, str, str], np.ndarray]
    endpoints: dict[str, np.ndarray]
    tx_x: np.ndarray
    y: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.float32))


def tx_features(records: Sequence[Mapping[str, Any]]) -> np.ndarray:
    """float32 ``[n, TX_DIM]``: log amount, channel and transaction type one-hots."""
    out = np.zeros((len(records), TX_DIM), dtype=np.float32)
    for i, r in enumerate(records):
        out[i, 0] = math.log1p(max(float(r.get("amount") or 0.0), 0.0))
        ch, tt = r.get("channel"), r.get("tx_type")
        if ch in CHANNELS:
            out[i, 1 + CHANNELS.index(ch)] = 1.0
        if tt in TX_TYPES:
            out[i, 1 + len(CHANNELS) + TX_TYPES.index(tt)] = 1.0
    return out


class RingGraph:
    """Typed transaction graph, updated batch by batch, sampled per batch.

    Example:
        >>> g = RingGraph()
        >>> recs = [{"card_id": "c1", "device_id": "d", "event_time": 0, "amount": 5.0},
        ...         {"card_id": "c2", "device_id": "d", "event_time": 1, "amount": 7.0}]
        >>> s = g.update_and_sample(recs)
        >>> s.x["card"].shape[0], s.x["device"].shape[0], s.endpoints["device_id"].tolist()
        (2, 1, [0, 0])
    """

    def __init__(self, config: RingGraphConfig | None = None) -> None:
        self.config = config or RingGraphConfig()
        if not 1 <= self.config.max_neighbours <= 255:
            raise ValidationError("max_neighbours must be in [1, 255]", field="max_neighbours")
        self.nodes: dict[str, _Node] = {}
        self.now_ms = 0

    def _node(self, key: str, ntype: str, t: int) -> _Node:
        node = self.nodes.get(key)
        if node is None:
            node = self.nodes[key] = _Node(ntype, t)
        return node

    def _link(self, a: str, an: _Node, rel: str, b: str, bn: _Node, t: int) -> None:
        cap = self.config.max_neighbours
        for u, v in ((an, b), (bn, a)):
            d = u.nbrs.setdefault(rel, {})
            d.pop(v, None)
            d[v] = t
            if len(d) > cap:
                del d[next(iter(d))]

    def update(self, records: Iterable[Mapping[str, Any]]) -> None:
        """Add each transaction's typed links; raises on a record without ``card_id``."""
        for r in records:
            cid = r.get("card_id")
            if not cid:
                raise ValidationError("transaction without card_id", field="card_id")
            t = int(r.get("event_time") or 0)
            self.now_ms = max(self.now_ms, t)
            amount = float(r.get("amount") or 0.0)
            ck = f"card:{cid}"
            card = self._node(ck, "card", t)
            touched = [card]
            for fld, ntype, rel in LINKS:
                v = r.get(fld)
                if not v:
                    continue
                k = f"{ntype}:{v}"
                other = self._node(k, ntype, t)
                self._link(ck, card, rel, k, other, t)
                if rel == "pays":
                    other.in_n += 1
                    other.in_last = t
                    other.in_amount = amount
                else:
                    touched.append(other)
            for node in touched:
                node.tx += 1
                node.amount += amount
                node.last = max(node.last, t)

    def features(self, key: str) -> np.ndarray:
        """float32 ``[NODE_DIM]`` of one node as of ``now_ms`` (zeros if unknown)."""
        return np.asarray(self._feature_row(key), dtype=np.float32)

    def features_of(self, keys: Sequence[str]) -> np.ndarray:
        """float32 ``[len(keys), NODE_DIM]``, one row per key (see :meth:`features`)."""
        if not keys:
            return np.zeros((0, NODE_DIM), dtype=np.float32)
        return np.array([self._feature_row(k) for k in keys], dtype=np.float32)

    def _feature_row(self, key: str) -> list[float]:
        node = self.nodes.get(key)
        if node is None:
            return _ZEROS
        now = self.now_ms
        ttl = now - int(self.config.edge_ttl_s * 1000)
        day, hour = now - _DAY_MS, now - _HOUR_MS
        log = math.log1p
        row = [
            log(node.tx),
            log(node.amount / max(node.tx, 1)),
            log((now - node.first) / _HOUR_MS),
            log((now - node.last) / _HOUR_MS),
        ]
        for rel in RELATIONS:
            d = node.nbrs.get(rel)
            n_all = n_day = n_hour = 0
            if d:
                for k in reversed(d):  # most recent first: stop at the first expired link
                    t = d[k]
                    if t < ttl:
                        break
                    n_all += 1
                    if t >= day:
                        n_day += 1
                        n_hour += t >= hour
            row += (_LOG1P[n_all], _LOG1P[n_day], _LOG1P[n_hour])
        if node.in_n:
            row += (
                log(node.in_n),
                1.0,
                log((now - node.in_last) / 60_000),
                log(node.in_amount),
            )
        else:
            row += (0.0, 0.0, 0.0, 0.0)
        return row

    def sample(self, records: Sequence[Mapping[str, Any]]) -> HeteroSample:
        """The batch's endpoints and their ``len(fanout)``-hop typed neighbourhood."""
        index: dict[str, dict[str, int]] = {t: {} for t in NODE_TYPES}
        keys: dict[str, list[str]] = {t: [] for t in NODE_TYPES}

        def local(t: str, k: str) -> int:
            i = index[t].get(k)
            if i is None:
                i = index[t][k] = len(keys[t])
                keys[t].append(k)
            return i

        endpoints = {f: np.full(len(records), -1, dtype=np.int64) for _, f in ENDPOINTS}
        frontier: list[tuple[str, str]] = []
        for i, r in enumerate(records):
            for t, f in ENDPOINTS:
                v = r.get(f)
                if v:
                    k = f"{t}:{v}"
                    new = k not in index[t]
                    endpoints[f][i] = local(t, k)
                    if new:
                        frontier.append((t, k))
        edges: dict[tuple[str, str, str], set[tuple[int, int]]] = {et: set() for et in EDGE_TYPES}
        ttl = self.now_ms - int(self.config.edge_ttl_s * 1000)
        rel_type = {rel: t for _, t, rel in LINKS}
        for fanout in self.config.fanout:
            nxt: list[tuple[str, str]] = []
            for t, k in frontier:
                node = self.nodes.get(k)
                if node is None:
                    continue
                me = index[t][k]
                for rel, d in node.nbrs.items():
                    other_t = rel_type[rel] if t == "card" else "card"
                    for taken, nk in enumerate(reversed(d)):
                        if taken >= fanout or d[nk] < ttl:
                            break
                        new = nk not in index[other_t]
                        j = local(other_t, nk)
                        if new:
                            nxt.append((other_t, nk))
                        c, o = (me, j) if t == "card" else (j, me)
                        edges[("card", rel, rel_type[rel])].add((c, o))
            frontier = nxt
        x = {
            t: self.features_of(keys[t]) if keys[t] else np.zeros((0, NODE_DIM), np.float32)
            for t in NODE_TYPES
        }
        ei: dict[tuple[str, str, str], np.ndarray] = {}
        for _, t, rel in LINKS:
            pairs = np.array(sorted(edges[("card", rel, t)]), dtype=np.int64).reshape(-1, 2).T
            ei[("card", rel, t)] = pairs
            ei[(t, f"rev_{rel}", "card")] = pairs[::-1].copy()
        y = np.array([bool(r.get("is_fraud")) for r in records], dtype=np.float32)
        return HeteroSample(x=x, edge_index=ei, endpoints=endpoints, tx_x=tx_features(records), y=y)

    def update_and_sample(self, records: Sequence[Mapping[str, Any]]) -> HeteroSample:
        """What serving does per batch: update the graph, then sample the batch."""
        self.update(records)
        return self.sample(records)
