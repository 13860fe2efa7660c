"""Click-stream scoring on the user-session-product graph.

Nodes are users, sessions and products; a session links to its user and to every
product it touched. Session nodes carry behaviour features (event count, error
share, latency, pace, event-type mix, distinct products), products their traffic
and error share, users their session count. The same :class:`FraudNodeClassifier`
scores session nodes; every event of a session gets the session's score, and
``score_events`` writes ``user-events-scored`` records: the original event
fields unchanged plus ``fraud_score``, ``is_fraud``, ``model_version`` and
``scored_at``.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from fraudstream.errors import ValidationError

logger = logging.getLogger(__name__)

_TYPES = ("ADD_TO_CART", "CHECKOUT", "PAYMENT", "SEARCH", "VIEW_PRODUCT")
# 3 type one-hots, then counts and shares (zero where a feature does not apply).
NUM_FEATURES = 3 + 6 + len(_TYPES)


@dataclass(slots=True)
class ClickGraph:
    """A user-session-product graph built from a window of events.

    Attributes:
        keys: node keys (``session:<id>``, ``user:<id>``, ``product:<id>``).
        x: float32 [N, NUM_FEATURES] node features.
        edge_index: int64 [2, E], both directions.
        session_of_event: index of each event's session node, in event order.
    """

    keys: list[str]
    x: np.ndarray
    edge_index: np.ndarray
    session_of_event: np.ndarray

    @classmethod
    def build(cls, events: Sequence[Mapping[str, Any]]) -> ClickGraph:
        """Build the graph of ``events`` (fields of ``user_event.avsc``)."""
        index: dict[str, int] = {}
        stats: dict[str, list[float]] = defaultdict(lambda: [0.0] * (6 + len(_TYPES)))
        times: dict[str, list[int]] = defaultdict(list)
        products: dict[str, set[str]] = defaultdict(set)
        edges: set[tuple[int, int]] = set()
        sess_idx = np.empty(len(events), dtype=np.int64)
        for i, e in enumerate(events):
            try:
                sk, uk = f"session:{e['session_id']}", f"user:{e['user_id']}"
            except KeyError as exc:
                raise ValidationError("event without user_id/session_id", field=str(exc)) from exc
            s, u = index.setdefault(sk, len(index)), index.setdefault(uk, len(index))
            sess_idx[i] = s
            edges.add((s, u))
            err = 1.0 if e.get("status") == "ERROR" else 0.0
            st = stats[sk]
            st[0] += 1
            st[1] += err
            st[2] += float(e.get("request_latency_ms") or 0)
            if e.get("event_type") in _TYPES:
                st[6 + _TYPES.index(e["event_type"])] += 1
            times[sk].append(int(e.get("event_timestamp") or 0))
            if e.get("product_id") is not None:
                pk = f"product:{e['product_id']}"
                p = index.setdefault(pk, len(index))
                edges.add((s, p))
                products[sk].add(pk)
                pst = stats[pk]
                pst[0] += 1
                pst[1] += err
            stats[uk][0] += 0  # make sure the user has a row
        keys = list(index)
        x = np.zeros((len(keys), NUM_FEATURES), dtype=np.float32)
        sessions_of_user: dict[str, int] = defaultdict(int)
        for _a, b in edges:
            if keys[b].startswith("user:"):
                sessions_of_user[keys[b]] += 1
        for k, i in index.items():
            kind = k.split(":", 1)[0]
            x[i, ("session", "user", "product").index(kind)] = 1.0
            st = stats[k]
            n = max(st[0], 1.0)
            if kind == "session":
                ts = np.sort(np.asarray(times[k], dtype=np.float64))
                gap = float(np.median(np.diff(ts))) if len(ts) > 1 else 0.0
                x[i, 3:9] = (np.log1p(st[0]), st[1] / n, st[2] / n / 1000.0,
                             np.log1p(gap / 1000.0), np.log1p(len(products[k])), 0.0)  # fmt: skip
                x[i, 9:] = np.asarray(st[6:]) / n
            elif kind == "product":
                x[i, 3], x[i, 4] = np.log1p(st[0]), st[1] / n
            else:
                x[i, 8] = np.log1p(sessions_of_user[k])
        ei = np.array(sorted(edges), dtype=np.int64).reshape(-1, 2).T
        return cls(keys, x, np.hstack([ei, ei[::-1]]), sess_idx)


def session_labels(graph: ClickGraph, event_labels: Sequence[bool]) -> np.ndarray:
    """int64 [N]: 1 for session nodes with a fraudulent (bot) event, else 0."""
    y = np.zeros(len(graph.keys), dtype=np.int64)
    for s, lab in zip(graph.session_of_event.tolist(), event_labels, strict=True):
        if lab:
            y[s] = 1
    return y


def score_graph(model: Any, graph: ClickGraph) -> np.ndarray:
    """Fraud probability per event (its session's), one model call."""
    import torch

    with torch.no_grad():
        model.eval()
        logits = model(torch.from_numpy(graph.x), torch.from_numpy(graph.edge_index))
    p = torch.sigmoid(logits).double().numpy()
    return np.asarray(p[graph.session_of_event], dtype=np.float64)


def score_events(
    model: Any,
    events: Sequence[Mapping[str, Any]],
    threshold: float,
    model_version: str,
    scored_at_ms: int,
) -> list[dict[str, Any]]:
    """``user-events-scored`` records: each event unchanged plus the score fields."""
    p = score_graph(model, ClickGraph.build(events))
    return [
        {
            **e,
            "fraud_score": float(s),
            "is_fraud": bool(s >= threshold),
            "model_version": model_version,
            "scored_at": scored_at_ms,
        }
        for e, s in zip(events, p.tolist(), strict=True)
    ]
