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

from fraudstream.detect.gnn.live import LINKS, NODE_FEATURES, LiveGraph, LiveGraphConfig
from fraudstream.errors import ValidationError
from fraudstream.events.batch import TransactionBatch

logger = logging.getLogger(__name__)

_FIELD = {"device": "device_id", "ip": "ip_address"}


class GraphSignal:
    """Callable ``(TransactionBatch) -> (scores [n], reasons n x list[str])``.

    Args:
        model: a trained :class:`FraudNodeClassifier` over ``NODE_FEATURES`` (None:
            score 0 and reasons only, e.g. before a first model is trained).
        graph: the live graph (a fresh one by default).
        hops, fanout: neighbourhood sampling per batch (``fanout`` per hop if a sequence).
        flag_threshold: cards scoring at least this are flagged in the graph, so
            their devices and IPs raise the reasons of the next cards that use them.
        torch_threads: ``torch.set_num_threads`` when a model is given (None: leave).
        exact: score on the sampled, renumbered subgraph (:func:`seed_logits`, the
            reference) instead of the row forward with the encoder cache
            (:func:`row_logits`, the default: same model, each node averaging its
            own most recent neighbours; see docs/gnn.md for how close they are).

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
        fanout: int | Sequence[int] = 16,
        flag_threshold: float = 0.9,
        torch_threads: int | None = 1,
        exact: bool = False,
    ) -> None:
        self.model = model
        self.graph = graph if graph is not None else LiveGraph(LiveGraphConfig())
        self.hops = hops
        self.fanout = fanout
        self.flag_threshold = flag_threshold
        self.exact = exact
        self._cache: Any = None
        if model is not None:
            import torch

            if torch_threads is not None:
                # One core per scoring process: intra-op threads only add overhead at this size.
                torch.set_num_threads(torch_threads)
            model.eval()

    def __call__(self, batch: TransactionBatch) -> tuple[np.ndarray, list[list[str]]]:
        n = len(batch)
        if n == 0:
            return np.zeros(0), []
        cards, linked = self.graph.ingest(batch.records, batch.col("event_time"))
        scores = self.score_slots(cards)
        now = self.graph.now_ms
        self.graph.flag_slots(cards[scores >= self.flag_threshold], now)
        return scores, self.batch_reasons(cards, linked, now)

    def score_slots(self, slots: np.ndarray) -> np.ndarray:
        """Fraud probability per node slot: one sampled subgraph, one model call."""
        if self.model is None:
            return np.zeros(slots.shape[0])
        import torch

        from fraudstream.detect.gnn.live_model import EncoderCache, row_logits, seed_logits

        uniq, inv = np.unique(slots, return_inverse=True)
        if not self.exact and self.hops == 2:
            if self._cache is None or self._cache.model is not self.model:
                self._cache = EncoderCache(self.model)
            f = self.fanout
            fan = [f, f] if isinstance(f, int) else list(f)
            with torch.inference_mode():
                logits = row_logits(self.model, self._cache, self.graph, uniq, fan)
            return np.asarray(torch.sigmoid(logits).double().numpy()[inv], dtype=np.float64)
        nodes, ei, ends = self.graph.sample_slots(uniq, hops=self.hops, fanout=self.fanout)
        x = self.graph.x[np.maximum(nodes, 0)]
        x[nodes < 0] = 0.0
        with torch.inference_mode():
            p = torch.sigmoid(seed_logits(self.model, x, ei, ends)).double().numpy()
        return np.asarray(p[inv], dtype=np.float64)

    def batch_reasons(self, cards: np.ndarray, linked: np.ndarray, now_ms: int) -> list[list[str]]:
        """:meth:`reasons` for a whole batch from :meth:`LiveGraph.ingest`'s slots."""
        g = self.graph
        out: list[list[str]] = [[] for _ in range(cards.shape[0])]
        own = g.flag_values(cards, now_ms) >= 0.5
        pos = np.arange(g.nbr.shape[1])[None, :]
        for kind in ("device", "ip"):
            col = linked[:, [f for f, _ in LINKS].index(_FIELD[kind])]
            rows = np.nonzero(col >= 0)[0]
            if rows.size == 0:
                continue
            s = col[rows]
            nb = np.maximum(g.nbr[s], 0)
            valid = pos < g.deg[s][:, None]
            flagged = ((g.flag_values(nb, now_ms) >= 0.5) & valid).sum(axis=1) - own[rows]
            n_cards = ((g.ntype[nb] == 0) & valid).sum(axis=1)
            for h in np.nonzero((flagged > 0) | (n_cards >= 5))[0].tolist():
                reasons = out[int(rows[h])]
                if flagged[h] > 0:
                    reasons.append(f"graph:{kind}_shared_with_{flagged[h]}_flagged_cards_24h")
                if n_cards[h] >= 5:
                    reasons.append(f"graph:{kind}_shared_by_{n_cards[h]}_cards")
        return out

    def score_nodes(self, keys: list[str]) -> np.ndarray:
        """Fraud probability per node key, one model call for all of them."""
        if self.model is None:
            return np.zeros(len(keys))
        import torch

        nodes, ei = self.graph.sample(keys, hops=self.hops, fanout=self.fanout)
        x = torch.from_numpy(self.graph.node_features(nodes))
        with torch.inference_mode():
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
    keys, ei = graph.edge_index()
    pos = {k: i for i, k in enumerate(keys)}
    x = graph.node_features(keys)
    y = np.zeros(len(keys), dtype=np.int64)
    for r in records:
        # a card evicted from the replay window has no node to label
        if r.get("is_fraud") and f"card:{r['card_id']}" in pos:
            y[pos[f"card:{r['card_id']}"]] = 1
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
