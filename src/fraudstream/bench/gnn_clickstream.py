"""Bot sessions found by the click-stream GNN, against the generator's ground truth.

The first 60 % of a generated stream builds the training graph (session nodes
split 70/30 into train/validation); the last 40 % builds a separate graph whose
sessions the model has never seen (inductive). Reported: session-level and
event-level AUPRC and ROC AUC on that test graph, and the bot share.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
from sklearn.metrics import average_precision_score, roc_auc_score
from sklearn.model_selection import train_test_split

logger = logging.getLogger(__name__)


def run(n_events: int = 40_000, seed: int = 11) -> dict[str, Any]:
    """Train on the first 60 % of the stream, score the rest; returns the figures."""
    import torch

    from fraudstream.detect.gnn.clickstream import ClickGraph, score_graph, session_labels
    from fraudstream.detect.gnn.train import TrainConfig, fit_node_classifier
    from fraudstream.generate.clickstream import ClickstreamConfig, ClickstreamGenerator

    torch.set_num_threads(1)
    gen = ClickstreamGenerator(ClickstreamConfig(seed=seed), start_time_ms=1_767_225_600_000)
    evs = gen.take(n_events)
    cut = int(0.6 * n_events)
    train_ev, test_ev = evs[:cut], evs[cut:]
    g_tr = ClickGraph.build([e.event for e in train_ev])
    y_tr = session_labels(g_tr, [e.is_fraud for e in train_ev])
    sessions = np.array([i for i, k in enumerate(g_tr.keys) if k.startswith("session:")])
    tr, va = train_test_split(sessions, test_size=0.3, stratify=y_tr[sessions], random_state=seed)
    cfg = TrainConfig(hidden_channels=32, max_epochs=80, patience=20, seed=seed)
    model, _ = fit_node_classifier(g_tr.x, g_tr.edge_index, y_tr, np.sort(tr), np.sort(va), cfg)

    g_te = ClickGraph.build([e.event for e in test_ev])
    y_ev = np.array([e.is_fraud for e in test_ev])
    p_ev = score_graph(model, g_te)
    y_s = session_labels(g_te, y_ev.tolist())
    s_idx = np.unique(g_te.session_of_event)
    p_s = np.zeros(len(g_te.keys))
    p_s[g_te.session_of_event] = p_ev
    out = {
        "events": n_events,
        "test_events": len(test_ev),
        "test_sessions": len(s_idx),
        "test_bot_sessions": int(y_s[s_idx].sum()),
        "session_auprc": float(average_precision_score(y_s[s_idx], p_s[s_idx])),
        "session_roc_auc": float(roc_auc_score(y_s[s_idx], p_s[s_idx])),
        "event_auprc": float(average_precision_score(y_ev, p_ev)),
        "event_bot_share": float(y_ev.mean()),
    }
    logger.info("click-stream GNN: %s", out)
    return out
