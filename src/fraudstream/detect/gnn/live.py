"""The live transaction graph: an in-memory store that every event updates.

Nodes are typed entities (``card``, ``account``, ``customer``, ``merchant``,
``device``, ``ip``); a transaction links its card to each of the others it names
(and to the counterparty account of a transfer). Memory is bounded three ways:

- a cap on neighbours per node: the least recently seen neighbour is dropped
  first (a busy merchant keeps its ``max_neighbours`` latest cards, not all);
- time decay: node activity and flags decay with ``half_life_s``; edges older than
  ``edge_ttl_s`` are ignored by the sampler and pruned on eviction;
- eviction of cold nodes: nodes unseen for ``cold_after_s`` are removed.

State is a pure function of the events replayed into it, so after a crash the
graph is rebuilt by replaying a window of the ``transactions`` topic
(:meth:`LiveGraph.rebuild`), the window being ``cold_after_s`` long.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from fraudstream.errors import ValidationError

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


@dataclass(slots=True)
class LiveGraphConfig:
    """Bounds of the live graph (see module docstring)."""

    max_neighbours: int = 32
    half_life_s: float = 86_400.0
    edge_ttl_s: float = 7 * 86_400.0
    cold_after_s: float = 7 * 86_400.0
    evict_every: int = 50_000


class _Node:
    __slots__ = ("amount_sum", "flag", "flag_ms", "key", "last_ms", "nbrs", "ntype", "tx")

    def __init__(self, key: str, ntype: int) -> None:
        self.key = key
        self.ntype = ntype
        self.tx = 0
        self.amount_sum = 0.0
        self.last_ms = 0
        self.flag = 0.0
        self.flag_ms = 0
        # neighbour key -> last time seen together; insertion order = recency order
        self.nbrs: dict[str, int] = {}


class LiveGraph:
    """Bounded, incrementally updated heterogeneous transaction graph.

    Example:
        >>> g = LiveGraph()
        >>> g.update([{"card_id": "c1", "device_id": "d1", "amount": 10.0, "event_time": 0},
        ...           {"card_id": "c2", "device_id": "d1", "amount": 5.0, "event_time": 1000}])
        >>> sorted(g.neighbours("device:d1")), g.num_nodes
        (['card:c1', 'card:c2'], 3)
    """

    def __init__(self, config: LiveGraphConfig | None = None) -> None:
        self.config = config or LiveGraphConfig()
        self.nodes: dict[str, _Node] = {}
        self.now_ms = 0
        self.events = 0
        self._decay_per_ms = math.log(2) / (self.config.half_life_s * 1000.0)

    @property
    def num_nodes(self) -> int:
        return len(self.nodes)

    @property
    def num_edges(self) -> int:
        """Directed adjacency entries (each link is stored on both ends)."""
        return sum(len(n.nbrs) for n in self.nodes.values())

    def neighbours(self, key: str) -> list[str]:
        node = self.nodes.get(key)
        return list(node.nbrs) if node is not None else []

    def _node(self, key: str, ntype: int) -> _Node:
        node = self.nodes.get(key)
        if node is None:
            node = self.nodes[key] = _Node(key, ntype)
        return node

    def _link(self, a: _Node, b: _Node, t: int) -> None:
        cap = self.config.max_neighbours
        for u, v in ((a, b), (b, a)):
            u.nbrs.pop(v.key, None)
            u.nbrs[v.key] = t
            if len(u.nbrs) > cap:
                del u.nbrs[next(iter(u.nbrs))]

    def update(self, records: Iterable[Mapping[str, Any]]) -> None:
        """Add each transaction's links; raises on a record without ``card_id``."""
        for r in records:
            card_id = r.get("card_id")
            if not card_id:
                raise ValidationError("transaction without card_id", field="card_id")
            t = int(r.get("event_time") or 0)
            if t > self.now_ms:
                self.now_ms = t
            amount = float(r.get("amount") or 0.0)
            card = self._node(f"card:{card_id}", 0)
            touched = [card]
            for fld, ntype in LINKS:
                v = r.get(fld)
                if v:
                    other = self._node(f"{ntype}:{v}", NODE_TYPES.index(ntype))
                    self._link(card, other, t)
                    touched.append(other)
            for node in touched:
                node.tx += 1
                node.amount_sum += amount
                node.last_ms = max(node.last_ms, t)
            self.events += 1
            if self.events % self.config.evict_every == 0:
                self.evict()

    def flag(self, keys: Iterable[str], event_time_ms: int, weight: float = 1.0) -> None:
        """Mark nodes (``card:<id>`` ...) as flagged (an alert or a fraud verdict)."""
        for k in keys:
            node = self.nodes.get(k)
            if node is not None:
                node.flag = self.flag_value(node, event_time_ms) + weight
                node.flag_ms = event_time_ms

    def flag_value(self, node: _Node, now_ms: int) -> float:
        """The node's flag weight decayed to ``now_ms``."""
        if node.flag == 0.0:
            return 0.0
        return node.flag * math.exp(-self._decay_per_ms * max(0, now_ms - node.flag_ms))

    def evict(self, now_ms: int | None = None) -> int:
        """Drop cold nodes and stale links; returns how many nodes were evicted."""
        now = self.now_ms if now_ms is None else now_ms
        cold = now - int(self.config.cold_after_s * 1000)
        ttl = now - int(self.config.edge_ttl_s * 1000)
        dead = [k for k, n in self.nodes.items() if n.last_ms < cold]
        for k in dead:
            del self.nodes[k]
        for n in self.nodes.values():
            stale = [k for k, t in n.nbrs.items() if t < ttl or k not in self.nodes]
            for k in stale:
                del n.nbrs[k]
        if dead:
            logger.info("live graph: evicted %d cold nodes, %d left", len(dead), len(self.nodes))
        return len(dead)

    def node_features(self, keys: list[str]) -> np.ndarray:
        """float32 [len(keys), len(NODE_FEATURES)]; unknown keys get the type one-hot only."""
        out = np.zeros((len(keys), len(NODE_FEATURES)), dtype=np.float32)
        k0 = len(NODE_TYPES)
        for i, key in enumerate(keys):
            node = self.nodes.get(key)
            if node is None:
                t = key.split(":", 1)[0]
                if t in NODE_TYPES:
                    out[i, NODE_TYPES.index(t)] = 1.0
                continue
            out[i, node.ntype] = 1.0
            out[i, k0] = math.log1p(node.tx)
            out[i, k0 + 1] = math.log1p(node.amount_sum / max(node.tx, 1))
            out[i, k0 + 2] = math.log1p(len(node.nbrs))
        return out

    def flagged_neighbours(self, key: str, now_ms: int, min_flag: float = 0.5) -> int:
        """How many neighbours of ``key`` carry a live flag of at least ``min_flag``."""
        node = self.nodes.get(key)
        if node is None:
            return 0
        n = 0
        for k in node.nbrs:
            other = self.nodes.get(k)
            if other is not None and self.flag_value(other, now_ms) >= min_flag:
                n += 1
        return n

    def sample(
        self, seeds: list[str], hops: int = 2, fanout: int = 16
    ) -> tuple[list[str], np.ndarray]:
        """The ``hops``-hop neighbourhood of ``seeds`` with at most ``fanout`` most
        recent live neighbours per node.

        Returns:
            node keys (seeds first, in order, duplicates kept once) and int64
            ``edge_index [2, E]`` over their positions, both directions.
        """
        index: dict[str, int] = {}
        for s in seeds:
            index.setdefault(s, len(index))
        frontier = list(index)
        src: list[int] = []
        dst: list[int] = []
        ttl = self.now_ms - int(self.config.edge_ttl_s * 1000)
        for _ in range(hops):
            nxt: list[str] = []
            for key in frontier:
                node = self.nodes.get(key)
                if node is None:
                    continue
                items = list(node.nbrs.items())[-fanout:]
                for nk, t in items:
                    if t < ttl:
                        continue
                    j = index.get(nk)
                    if j is None:
                        j = index[nk] = len(index)
                        nxt.append(nk)
                    src.append(j)
                    dst.append(index[key])
            frontier = nxt
        ei = np.array([src + dst, dst + src], dtype=np.int64).reshape(2, -1)
        return list(index), ei

    @classmethod
    def rebuild(
        cls, records: Iterable[Mapping[str, Any]], config: LiveGraphConfig | None = None
    ) -> LiveGraph:
        """A graph rebuilt after a crash by replaying a window of transactions."""
        g = cls(config)
        g.update(records)
        return g
