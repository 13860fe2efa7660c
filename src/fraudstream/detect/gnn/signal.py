"""The GNN as a signal of the ensemble: live graph in, scores and reasons out.

Per batch: the batch's transactions update the live graph, the 2-hop
neighbourhoods of the batch's cards are sampled into one subgraph, and the node
classifier runs once over it; each transaction gets its card's fraud probability.
Nodes never seen in training are scored from their features and neighbourhood
(the model is inductive). Reasons name the shared infrastructure, e.g.
``graph:device_shared_with_4_flagged_cards_24h``.

:class:`GraphSignal` matches ``ExtraSignal`` of
:class:`~fraudstream.detect.detector.EnsembleDetector`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
from sklearn.model_selection import train_test_split

from fraudstream.detect.gnn.live import NODE_FEATURES, LiveGraph, LiveGraphConfig
from fraudstream.errors import ValidationError
from fraudstream.events.batch import TransactionBatch

logger = logging.getLogger(__name__)


class GraphSignal:
    """Callable ``(TransactionBatch) -> (scores [n], reasons n x list[str])``.

    Args:
        model: a trained :class:`FraudNodeClassifier` over ``NODE_FEATURES`` (None:
            score 0 and reasons only, e.g. before a first model is trained).
        graph: the live graph (a fresh one by default).
        hops, fanout: neighbourhood sampling per batch.
        flag_threshold: cards scoring at least this are flagged in the graph, so
            their devices and IPs raise the reasons of the next cards that use them.

    Example:
        >>> sig = GraphSignal(model=None)
        >>> b = TransactionBatch([{"card_id": "c1", "device_id": "d", "event_time": 0}])
        >>> scores, reasons = sig(b)
        >>> scores.tolist(), reasons
        ([0.0], [[]])
    """

    def __init__(
        self,
        model: Any | None,
        graph: LiveGraph | None = None,
        hops: int = 2,
        fanout: int = 16,
        flag_threshold: float = 0.9,
    ) -> None:
        self.model = model
        self.graph = graph if graph is not None else LiveGraph(LiveGraphConfig())
        self.hops = hops
        self.fanout = fanout
        self.flag_threshold = flag_threshold

    def __call__(self, batch: TransactionBatch) -> tuple[np.ndarray, list[list[str]]]:
        n = len(batch)
        if n == 0:
            return np.zeros(0), []
        self.graph.update(batch.records)
        cards = [f"card:{r['card_id']}" for r in batch.records]
        scores = self.score_nodes(cards)
        now = self.graph.now_ms
        hot = [c for c, s in zip(cards, scores.tolist(), strict=True) if s >= self.flag_threshold]
        if hot:
            self.graph.flag(hot, now)
        return scores, [self.reasons(r, now) for r in batch.records]

    def score_nodes(self, keys: list[str]) -> np.ndarray:
        """Fraud probability per node key, one model call for all of them."""
        if self.model is None:
            return np.zeros(len(keys))
        import torch

        nodes, ei = self.graph.sample(keys, hops=self.hops, fanout=self.fanout)
        x = torch.from_numpy(self.graph.node_features(nodes))
        with torch.no_grad():
            self.model.eval()
            p = torch.sigmoid(self.model(x, torch.from_numpy(ei))).double().numpy()
        pos = {k: i for i, k in enumerate(nodes)}
        return np.asarray([p[pos[k]] for k in keys], dtype=np.float64)

    def reasons(self, record: Mapping[str, Any], now_ms: int) -> list[str]:
        """Graph reason codes of one transaction (shared device / IP with flagged cards)."""
        out: list[str] = []
        for fld, kind in (("device_id", "device"), ("ip_address", "ip")):
            v = record.get(fld)
            if not v:
                continue
            key = f"{kind}:{v}"
            flagged = self.graph.flagged_neighbours(key, now_ms)
            card_key = f"card:{record['card_id']}"
            node = self.graph.nodes.get(card_key)
            if node is not None and self.graph.flag_value(node, now_ms) >= 0.5:
                flagged -= 1  # the card itself does not count
            if flagged > 0:
                out.append(f"graph:{kind}_shared_with_{flagged}_flagged_cards_24h")
            cards = sum(1 for k in self.graph.neighbours(key) if k.startswith("card:"))
            if cards >= 5:
                out.append(f"graph:{kind}_shared_by_{cards}_cards")
        return out

    def feedback(self, card_ids: Iterable[str], event_time_ms: int) -> None:
        """Analysts' fraud verdicts: flag those cards in the graph."""
        self.graph.flag((f"card:{c}" for c in card_ids), event_time_ms)


def train_live_model(
    records: Sequence[Mapping[str, Any]],
    config: LiveGraphConfig | None = None,
    seed: int = 0,
    max_epochs: int = 60,
) -> tuple[Any, LiveGraph]:
    """Train the node classifier on the graph a transaction history builds.

    A card is labelled fraudulent when any of its transactions is (``is_fraud``,
    ground truth, never an input). Training, validation: a 70/30 split of
    the cards, stratified; only card nodes carry labels, the others pass messages.

    Raises:
        ValidationError: the history has too few fraudulent cards to train on.

    Returns:
        The trained model and the graph the history built.
    """
    from fraudstream.detect.gnn.train import TrainConfig, fit_node_classifier

    graph = LiveGraph.rebuild(records, config)
    keys = list(graph.nodes)
    pos = {k: i for i, k in enumerate(keys)}
    x = graph.node_features(keys)
    y = np.zeros(len(keys), dtype=np.int64)
    for r in records:
        if r.get("is_fraud"):
            y[pos[f"card:{r['card_id']}"]] = 1
    src = [pos[k] for k in keys for _ in graph.nodes[k].nbrs]
    dst = [pos[nb] for k in keys for nb in graph.nodes[k].nbrs]
    ei = np.array([src, dst], dtype=np.int64)
    cards = np.array([i for i, k in enumerate(keys) if k.startswith("card:")])
    if len(np.unique(y[cards])) < 2 or int(y[cards].sum()) < 2:
        raise ValidationError("history needs at least 2 fraudulent and 1 legitimate card")
    tr, va = train_test_split(cards, test_size=0.3, stratify=y[cards], random_state=seed)
    cfg = TrainConfig(hidden_channels=32, max_epochs=max_epochs, patience=20, seed=seed)
    model, _ = fit_node_classifier(x, ei, y, np.sort(tr), np.sort(va), cfg)
    logger.info(
        "live model trained on %d nodes (%d cards, %d fraudulent), features %s",
        len(keys),
        len(cards),
        int(y.sum()),
        NODE_FEATURES,
    )
    return model, graph
