"""The graph neighbourhood of one transaction, read from the store for the dashboard.

The neighbourhood is the bipartite graph around a transaction: its card, device,
IP address and merchant, and the *other* stored transactions that share one of
them (with their cards, so a device used by many cards stands out as a fan-in).
Device, IP and merchant come from the ``payments`` table (HTTP ingest) and from
the ``scores`` table (every scored transaction, since migration 0002), so a
transaction only the stream saw is linked like an ingested one; neighbours are
looked up in both tables (a transaction in both counts once).

Read-only and bounded: at most ``per_link`` neighbours are drawn per shared
attribute, while ``counts`` says how many exist in total.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select, union
from sqlalchemy.orm import Session

from fraudstream.errors import NotFoundError
from fraudstream.store.models import Alert, Payment, Score

# Which payments / scores column each attribute node comes from.
LINKS = {"device": "device_id", "ip": "ip_address", "merchant": "merchant_id"}


@dataclass(slots=True)
class Graph:
    """Nodes and edges, deduplicated by id, in insertion order.

    Example:
        >>> g = Graph()
        >>> g.node("card:c1", "card", "card c1"); g.node("card:c1", "card", "again")
        >>> g.edge("tx:t1", "card:c1", "card"); len(g.nodes), len(g.edges)
        (1, 1)
    """

    nodes: dict[str, dict[str, Any]] = field(default_factory=dict)
    edges: dict[tuple[str, str], dict[str, str]] = field(default_factory=dict)

    def node(self, node_id: str, kind: str, label: str, **attrs: Any) -> None:
        if node_id not in self.nodes:
            self.nodes[node_id] = {"id": node_id, "kind": kind, "label": label, **attrs}

    def edge(self, source: str, target: str, kind: str) -> None:
        self.edges.setdefault((source, target), {"source": source, "target": target, "kind": kind})


def _short(value: str, keep: int = 10) -> str:
    return value if len(value) <= keep else value[:keep] + "…"


def _card_label(card_id: str, last4: str | None) -> str:
    return f"card ··{last4}" if last4 else f"card {_short(card_id, 8)}"


def _verdicts(db: Session, tids: set[str]) -> dict[str, tuple[str, float]]:
    """(action, score) per transaction id: alert first, else its score row."""
    if not tids:
        return {}
    out = {
        t: (a, s)
        for t, a, s in db.execute(
            select(Score.transaction_id, Score.action, Score.fraud_score).where(
                Score.transaction_id.in_(tids)
            )
        )
    }
    for t, a, s in db.execute(
        select(Alert.transaction_id, Alert.action, Alert.fraud_score).where(
            Alert.transaction_id.in_(tids)
        )
    ):
        out[t] = (a, s)
    return out


def _sharing(name: str, value: str, transaction_id: str) -> Any:
    """(transaction, card) of the other payments and scores with ``name == value``;
    UNION, so a transaction in both tables (ingested, then scored) appears once."""
    pay = select(Payment.transaction_id, Payment.card_hash.label("card")).where(
        getattr(Payment, name) == value, Payment.transaction_id != transaction_id
    )
    sco = select(Score.transaction_id, Score.card_id.label("card")).where(
        getattr(Score, name) == value, Score.transaction_id != transaction_id
    )
    return union(pay, sco).subquery()


def _link_counts(db: Session, name: str, value: str, transaction_id: str) -> tuple[int, int]:
    both = _sharing(name, value, transaction_id)
    n_tx, n_cards = db.execute(
        select(
            func.count(func.distinct(both.c.transaction_id)), func.count(func.distinct(both.c.card))
        )
    ).one()
    return int(n_tx), int(n_cards)


def _link_rows(
    db: Session, name: str, value: str, transaction_id: str, limit: int
) -> list[tuple[str, str | None, str | None]]:
    """Up to ``limit`` most recent (transaction, card, last4): payments first, then scores."""
    out: dict[str, tuple[str, str | None, str | None]] = {}
    for tid, card, l4 in db.execute(
        select(Payment.transaction_id, Payment.card_hash, Payment.card_last4)
        .where(getattr(Payment, name) == value, Payment.transaction_id != transaction_id)
        .order_by(Payment.created_at.desc())
        .limit(limit)
    ):
        out[tid] = (tid, card, l4)
    if len(out) < limit:
        for s_tid, s_card in db.execute(
            select(Score.transaction_id, Score.card_id)
            .where(getattr(Score, name) == value, Score.transaction_id != transaction_id)
            .order_by(Score.scored_at.desc())
            .limit(limit)
        ):
            if len(out) >= limit:
                break
            out.setdefault(s_tid, (s_tid, s_card, None))
    return list(out.values())


def neighbourhood(db: Session, transaction_id: str, *, per_link: int = 8) -> dict[str, Any]:
    """Nodes, edges and per-attribute counts around ``transaction_id``.

    Raises:
        NotFoundError: no payment, score or alert has this transaction id.
    """
    payment = db.scalars(select(Payment).where(Payment.transaction_id == transaction_id)).first()
    scored = db.get(Alert, transaction_id) or db.get(Score, transaction_id)
    if payment is None and scored is None:
        raise NotFoundError(f"no transaction {transaction_id!r}")
    card_id = (scored.card_id if scored is not None else None) or (
        payment.card_hash if payment is not None else None
    )
    last4 = payment.card_last4 if payment is not None else None
    g = Graph()
    center = f"tx:{transaction_id}"
    g.node(center, "transaction", _short(transaction_id), center=True)
    counts: dict[str, dict[str, Any]] = {}
    neighbours: dict[str, tuple[str | None, str | None]] = {}  # tid -> (card, last4)

    if card_id:
        card_node = f"card:{card_id}"
        g.node(card_node, "card", _card_label(card_id, last4), center=True)
        g.edge(center, card_node, "card")
        same_card = select(Score.transaction_id).where(
            Score.card_id == card_id, Score.transaction_id != transaction_id
        )
        total = db.scalar(select(func.count()).select_from(same_card.subquery())) or 0
        for tid in db.scalars(same_card.order_by(Score.scored_at.desc()).limit(per_link)):
            neighbours.setdefault(tid, (card_id, last4))
        counts["card"] = {"value": card_id, "transactions": int(total), "cards": 1}

    score_row = db.get(Score, transaction_id)
    for kind, name in LINKS.items():
        value = getattr(payment, name, None) or getattr(score_row, name, None)
        if value is None:
            continue
        attr_node = f"{kind}:{value}"
        g.node(attr_node, kind, f"{kind} {_short(str(value), 14)}")
        g.edge(center, attr_node, kind)
        n_tx, n_cards = _link_counts(db, name, value, transaction_id)
        counts[kind] = {"value": value, "transactions": n_tx, "cards": n_cards}
        for tid, card, l4 in _link_rows(db, name, value, transaction_id, per_link):
            neighbours.setdefault(tid, (card, l4))
            g.node(f"tx:{tid}", "transaction", _short(tid))
            g.edge(f"tx:{tid}", attr_node, kind)

    decided = _verdicts(db, set(neighbours) | {transaction_id})
    if transaction_id in decided:
        action, score = decided[transaction_id]
        g.nodes[center].update(action=action, fraud_score=score)
    for tid, (their_card, their_last4) in neighbours.items():
        node = f"tx:{tid}"
        g.node(node, "transaction", _short(tid))
        if tid in decided:
            g.nodes[node].update(action=decided[tid][0], fraud_score=decided[tid][1])
        if their_card:
            g.node(f"card:{their_card}", "card", _card_label(their_card, their_last4))
            g.edge(node, f"card:{their_card}", "card")
    return {
        "transaction_id": transaction_id,
        "nodes": list(g.nodes.values()),
        "edges": list(g.edges.values()),
        "counts": counts,
    }
