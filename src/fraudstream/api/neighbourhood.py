"""The graph neighbourhood of one transaction, read from the store for the dashboard.

The neighbourhood is the bipartite graph around a transaction: its card, device,
IP address and merchant, and the *other* stored transactions that share one of
them (with their cards, so a device used by many cards stands out as a fan-in).
Device, IP and merchant live in the ``payments`` table (HTTP ingest); for a
transaction that only the stream saw, the ``scores``/``alerts`` rows carry the
card alone, so its neighbourhood is the card's other transactions.

Read-only and bounded: at most ``per_link`` neighbours are drawn per shared
attribute, while ``counts`` says how many exist in total.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from fraudstream.errors import NotFoundError
from fraudstream.store.models import Alert, Payment, Score

# Which payments column each attribute node comes from.
LINKS = {"device": Payment.device_id, "ip": Payment.ip_address, "merchant": Payment.merchant_id}


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

    if payment is not None:
        for kind, column in LINKS.items():
            value = getattr(payment, column.key)
            if value is None:
                continue
            attr_node = f"{kind}:{value}"
            g.node(attr_node, kind, f"{kind} {_short(str(value), 14)}")
            g.edge(center, attr_node, kind)
            others = select(Payment.transaction_id, Payment.card_hash, Payment.card_last4).where(
                column == value, Payment.transaction_id != transaction_id
            )
            n_tx, n_cards = db.execute(
                select(func.count(), func.count(func.distinct(Payment.card_hash))).where(
                    column == value, Payment.transaction_id != transaction_id
                )
            ).one()
            counts[kind] = {"value": value, "transactions": int(n_tx), "cards": int(n_cards)}
            rows = db.execute(others.order_by(Payment.created_at.desc()).limit(per_link)).all()
            for tid, card, l4 in rows:
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
