"""The live user-session-product graph of the click-stream, kept in a key-value store.

Every user event updates three kinds of node: its session (behaviour counters,
the most recent products it touched), its user (most recent sessions) and its
product (time-decayed traffic, most recent sessions). The nodes live as small
JSON records in a :class:`~fraudstream.detect.base.KeyValueStore`; in the
pipeline that is the partition's ``PartitionStore``, so every change goes to the
state changelog inside the Kafka transaction of the outputs and the graph is
**rebuilt from the changelog** after a crash or a rebalance, exactly as it was
at the last committed offset (no replay of ``user-events`` needed). The graph is
a pure function of the events in partition order, so a replay gives the same
graph too (a unit test checks it).

Bounded memory: a session keeps its ``max_links`` most recent products, users
and products their ``max_links`` most recent sessions, product traffic decays
with ``half_life_ms``, and every ``sweep_ms`` of event time (in eight slices) the nodes idle for
longer than their time-to-live are deleted (tombstones in the changelog).

Per batch, :meth:`ClickGraphState.sample` takes the batch's sessions, their
user and ``fanout`` most recent products (hop 1), and the ``fanout`` most
recent other sessions of those users and products (hop 2: co-visitation and
shared accounts) as one subgraph with :data:`NUM_FEATURES` features per node.
Training (:mod:`.clickstream`) builds its graphs with the same code.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson

from fraudstream.detect.base import KeyValueStore
from fraudstream.errors import ValidationError

logger = logging.getLogger(__name__)

EVENT_TYPES = ("ADD_TO_CART", "CHECKOUT", "PAYMENT", "SEARCH", "VIEW_PRODUCT")
FEATURE_NAMES = (
    "is_session", "is_user", "is_product", "log_events", "error_share", "latency_mean_s",
    "latency_std_s", "log_gap_s", "log_distinct_products", "log_user_sessions",
    *(f"share_{t.lower()}" for t in EVENT_TYPES), "log_duration_s",
)  # fmt: skip
NUM_FEATURES = len(FEATURE_NAMES)
_CLOCK = "m:clock"
_SWEEP_SLICES = 8
# session record fields
_S_USER, _S_N, _S_ERR, _S_LAT, _S_LAT2, _S_T0, _S_T1, _S_GAP, _S_TYPES, _S_NPROD, _S_PRODS = range(
    11
)
_P_W, _P_WERR, _P_WS, _P_T1, _P_SESS = range(5)  # product record
_U_T1, _U_N, _U_SESS = range(3)  # user record


@dataclass(frozen=True, slots=True)
class GraphLimits:
    """Bounds of the live graph (event time, milliseconds)."""

    max_links: int = 16
    fanout: int = 8
    half_life_ms: int = 3_600_000
    session_ttl_ms: int = 1_800_000
    product_ttl_ms: int = 6 * 3_600_000
    user_ttl_ms: int = 24 * 3_600_000
    sweep_ms: int = 300_000


@dataclass(frozen=True, slots=True)
class Subgraph:
    """One batch's sampled neighbourhood.

    Attributes:
        x: float32 [N, NUM_FEATURES] node features.
        edge_index: int64 [2, E], both directions.
        seeds: session ids of the seed nodes; seed ``i`` is node ``i``.
    """

    x: np.ndarray
    edge_index: np.ndarray
    seeds: list[str]


class DictStore(dict[str, bytes]):
    """A plain dict as a ``KeyValueStore`` (offline training, benchmarks, tests)."""

    def put(self, key: str, value: bytes) -> None:
        self[key] = value

    def delete(self, key: str) -> None:
        self.pop(key, None)


def _push(links: list[Any], item: Any, cap: int) -> bool:
    """Move ``item`` to the end of ``links`` (most recent), keep ``cap``; True if new."""
    new = item not in links
    if not new:
        links.remove(item)
    links.append(item)
    del links[:-cap]
    return new


class ClickGraphState:
    """The graph over one store; load, update with a batch, sample, then :meth:`flush`.

    Example:
        >>> st = ClickGraphState(DictStore())
        >>> ev = {"user_id": "u", "session_id": "s", "event_type": "VIEW_PRODUCT",
        ...       "event_timestamp": 0, "request_latency_ms": 80, "status": "SUCCESS",
        ...       "error_code": None, "product_id": 7}
        >>> st.update([ev])
        ['s']
        >>> g = st.sample(["s"]); g.x.shape, g.edge_index.shape
        ((3, 16), (2, 4))
        >>> st.flush(); sorted(st.store.keys())
        ['m:clock', 'p:7', 's:s', 'u:u']
    """

    def __init__(self, store: KeyValueStore, limits: GraphLimits | None = None) -> None:
        self.store = store
        self.limits = limits or GraphLimits()
        self._cache: dict[str, Any] = {}
        self._dirty: set[str] = set()
        clock = self._get(_CLOCK)
        self.clock: int = clock[0] if clock else 0
        self.last_sweep: int = clock[1] if clock else 0

    def _get(self, key: str) -> Any:
        if key in self._cache:
            return self._cache[key]
        raw = self.store.get(key)
        rec = orjson.loads(raw) if raw is not None else None
        self._cache[key] = rec
        return rec

    def _set(self, key: str, rec: Any) -> None:
        self._cache[key] = rec
        self._dirty.add(key)

    def update(self, events: Sequence[Mapping[str, Any]]) -> list[str]:
        """Add ``events`` (fields of ``user_event.avsc``); returns each event's session id."""
        lim = self.limits
        step = max(1, lim.sweep_ms // _SWEEP_SLICES)
        out: list[str] = []
        for e in events:
            try:
                sid, uid, t = str(e["session_id"]), str(e["user_id"]), int(e["event_timestamp"])
            except (KeyError, TypeError, ValueError) as exc:
                raise ValidationError("event without user_id/session_id/timestamp") from exc
            self.clock = max(self.clock, t)
            if self.clock // step > self.last_sweep // step:
                # on event-time boundaries, so eviction does not depend on the batching
                self._sweep(self.clock // step * step, step, protect=set(out))
            s = self._get("s:" + sid)
            if s is None:
                s = [uid, 0, 0, 0.0, 0.0, t, t, 0.0, [0] * len(EVENT_TYPES), 0, []]
                u = self._get("u:" + uid) or [t, 0, []]
                u[_U_N] += 1
                _push(u[_U_SESS], sid, lim.max_links)
                u[_U_T1] = max(u[_U_T1], t)
                self._set("u:" + uid, u)
            elif s[_S_N]:
                s[_S_GAP] += math.log1p(max(0, t - s[_S_T1]) / 1000.0)
            lat = float(e.get("request_latency_ms") or 0) / 1000.0
            err = 1 if e.get("status") == "ERROR" else 0
            s[_S_N] += 1
            s[_S_ERR] += err
            s[_S_LAT] += lat
            s[_S_LAT2] += lat * lat
            s[_S_T1] = max(s[_S_T1], t)
            etype = e.get("event_type")
            if etype in EVENT_TYPES:
                s[_S_TYPES][EVENT_TYPES.index(etype)] += 1
            pid = e.get("product_id")
            if pid is not None:
                if _push(s[_S_PRODS], pid, lim.max_links):
                    s[_S_NPROD] += 1
                self._touch_product(str(pid), sid, t, err)
            self._set("s:" + sid, s)
            out.append(sid)
        return out

    def _decay(self, value: float, since: int) -> float:
        return value * 0.5 ** (max(0, self.clock - since) / self.limits.half_life_ms)

    def _touch_product(self, pid: str, sid: str, t: int, err: int) -> None:
        p = self._get("p:" + pid) or [0.0, 0.0, 0.0, t, []]
        f = 0.5 ** (max(0, t - p[_P_T1]) / self.limits.half_life_ms)
        p[_P_W] = p[_P_W] * f + 1.0
        p[_P_WERR] = p[_P_WERR] * f + err
        p[_P_WS] = p[_P_WS] * f + (1.0 if _push(p[_P_SESS], sid, self.limits.max_links) else 0.0)
        p[_P_T1] = max(p[_P_T1], t)
        self._set("p:" + pid, p)

    def _sweep(self, now: int, step: int, protect: set[str]) -> None:
        """Delete nodes idle for longer than their time-to-live at event time ``now``."""
        lim = self.limits
        ttl = {"s": lim.session_ttl_ms, "p": lim.product_ttl_ms, "u": lim.user_ttl_ms}
        t1_at = {"s": _S_T1, "p": _P_T1, "u": _U_T1}
        dropped = 0
        # one slice of the keys per sweep (by their last character, ids are uniform there),
        # so no single batch pays for the whole store; each key is visited every sweep_ms
        part = (now // step) % _SWEEP_SLICES
        keys = {*self.store.keys(), *(k for k, v in self._cache.items() if v is not None)}
        for key in sorted(keys):
            kind = key[0]
            if (
                kind not in ttl
                or ord(key[-1]) % _SWEEP_SLICES != part
                or (kind == "s" and key[2:] in protect)
            ):
                continue
            rec = self._get(key)
            if rec is not None and now - rec[t1_at[kind]] > ttl[kind]:
                self._set(key, None)
                dropped += 1
        self.last_sweep = now
        logger.debug("click graph sweep at %d dropped %d nodes", now, dropped)

    def flush(self) -> None:
        """Write the changed nodes back to the store (deletes for evicted ones)."""
        for key in self._dirty:
            rec = self._cache[key]
            if rec is None:
                self.store.delete(key)
            else:
                self.store.put(key, orjson.dumps(rec))
        self.store.put(_CLOCK, orjson.dumps([self.clock, self.last_sweep]))
        self._dirty.clear()

    # -- features and sampling --------------------------------------------------
    def _features(self, key: str, rec: Any) -> list[float]:
        row = [0.0] * NUM_FEATURES
        if key[0] == "s":
            n = max(rec[_S_N], 1)
            lat = rec[_S_LAT] / n
            user = self._get("u:" + rec[_S_USER])
            row[0] = 1.0
            row[3:10] = [
                math.log1p(rec[_S_N]), rec[_S_ERR] / n, lat,
                math.sqrt(max(0.0, rec[_S_LAT2] / n - lat * lat)),
                rec[_S_GAP] / max(rec[_S_N] - 1, 1), math.log1p(rec[_S_NPROD]),
                math.log1p(user[_U_N] if user else 1),
            ]  # fmt: skip
            row[10:15] = [c / n for c in rec[_S_TYPES]]
            row[15] = math.log1p((rec[_S_T1] - rec[_S_T0]) / 1000.0)
        elif key[0] == "p":
            w = self._decay(rec[_P_W], rec[_P_T1])
            row[2], row[3] = 1.0, math.log1p(w)
            row[4] = rec[_P_WERR] / rec[_P_W] if rec[_P_W] > 0 else 0.0
            row[8] = math.log1p(self._decay(rec[_P_WS], rec[_P_T1]))
        else:
            row[1], row[3], row[9] = 1.0, math.log1p(len(rec[_U_SESS])), math.log1p(rec[_U_N])
        return row

    def sample(self, seeds: Iterable[str]) -> Subgraph:
        """The 2-hop neighbourhood of the seed sessions (seeds first, in order)."""
        fan = self.limits.fanout
        index: dict[str, int] = {}
        rows: list[list[float]] = []
        edges: list[tuple[int, int]] = []

        def node(key: str) -> int | None:
            i = index.get(key)
            if i is None:
                rec = self._get(key)
                if rec is None:  # evicted: a stale link
                    return None
                i = index[key] = len(rows)
                rows.append(self._features(key, rec))
            return i

        seed_list = list(dict.fromkeys(seeds))
        for sid in seed_list:  # seeds first: seed i is node i
            if node("s:" + sid) is None:
                raise ValidationError(f"session {sid!r} is not in the graph", field="session_id")
        hop1: list[tuple[int, str]] = []
        for si, sid in enumerate(seed_list):
            s = self._get("s:" + sid)
            for key in ("u:" + s[_S_USER], *(f"p:{p}" for p in s[_S_PRODS][-fan:])):
                j = node(key)
                if j is not None:
                    edges.append((si, j))
                    hop1.append((j, key))
        for j, key in dict.fromkeys(hop1):
            links = self._get(key)[_U_SESS if key[0] == "u" else _P_SESS]
            for other in links[-fan:]:
                k = node("s:" + other)
                if k is not None:
                    edges.append((k, j))
        ei = np.array(sorted(set(edges)), dtype=np.int64).reshape(-1, 2).T
        x = np.asarray(rows, dtype=np.float32).reshape(-1, NUM_FEATURES)
        return Subgraph(x, np.hstack([ei, ei[::-1]]), seed_list)
