"""Offline training of the click-stream model on the graphs the stream will serve.

A labelled history (an earlier time window of the stream) is replayed through the
live graph in batches, exactly as the pipeline scores it; every ``snapshot_every``-th
batch's sampled subgraph becomes a training graph whose seed sessions carry their
ground truth (a session is a bot session when its events are labelled fraud). So a
session is seen at several stages of its life, as the stream sees it. The snapshots
of the first ``1 - val_share`` of the history train the model, the rest (later in
time) pick the epoch and the threshold (max F1).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from fraudstream.detect.gnn.click_graph import DictStore, GraphLimits
from fraudstream.detect.gnn.clickstream import ClickModel, replay_batches
from fraudstream.errors import ValidationError
from fraudstream.generate.clickstream import LabelledEvent

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ClickTrainConfig:
    """Knobs of :func:`fit_click_model`."""

    batch: int = 256
    snapshot_every: int = 2
    val_share: float = 0.25
    hidden_channels: int = 32
    num_layers: int = 2
    max_epochs: int = 150
    patience: int = 30
    seed: int = 0


def snapshot_graph(
    history: Sequence[LabelledEvent], cfg: ClickTrainConfig, limits: GraphLimits
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Disjoint union of the snapshots: ``x, edge_index, y, seed_rows, seed_start``."""
    bot_sessions = {e.event["session_id"] for e in history if e.is_fraud}
    xs, eis, ys, seeds, starts = [], [], [], [], []
    offset = 0
    events = [e.event for e in history]
    for k, (start, _sessions, sub) in enumerate(
        replay_batches(events, DictStore(), limits, cfg.batch)
    ):
        if k % cfg.snapshot_every:
            continue
        n = sub.x.shape[0]
        y = np.zeros(n, dtype=np.int64)
        y[: len(sub.seeds)] = [s in bot_sessions for s in sub.seeds]
        xs.append(sub.x)
        eis.append(sub.edge_index + offset)
        ys.append(y)
        seeds.append(np.arange(offset, offset + len(sub.seeds)))
        starts.append(np.full(len(sub.seeds), start))
        offset += n
    if not xs:
        raise ValidationError("no history to train the click model on")
    return (np.vstack(xs), np.hstack(eis), np.concatenate(ys), np.concatenate(seeds),
            np.concatenate(starts))  # fmt: skip


def fit_click_model(
    history: Sequence[LabelledEvent],
    cfg: ClickTrainConfig | None = None,
    limits: GraphLimits | None = None,
    version: str = "click-gnn-dev",
) -> tuple[ClickModel, dict[str, float]]:
    """Train on ``history`` (time-ordered); returns the model and its validation figures."""
    import torch
    from sklearn.metrics import average_precision_score, precision_recall_curve

    from fraudstream.detect.gnn.train import (
        TrainConfig,
        evaluate,
        fit_node_classifier,
        to_adjacency,
    )

    cfg = cfg or ClickTrainConfig()
    limits = limits or GraphLimits()
    x, ei, y, seed_rows, seed_start = snapshot_graph(history, cfg, limits)
    cut = np.quantile(seed_start, 1.0 - cfg.val_share)
    tr, va = seed_rows[seed_start < cut], seed_rows[seed_start >= cut]
    if y[tr].sum() == 0 or y[va].sum() == 0:
        raise ValidationError("the click history needs bot sessions in both time windows")
    tcfg = TrainConfig(
        hidden_channels=cfg.hidden_channels, num_layers=cfg.num_layers,
        max_epochs=cfg.max_epochs, patience=cfg.patience, seed=cfg.seed,
    )  # fmt: skip
    net, _ = fit_node_classifier(x, ei, y, tr, va, tcfg)
    p = evaluate(net, torch.from_numpy(x), to_adjacency(ei, x.shape[0]))
    prec, rec, thr = precision_recall_curve(y[va], p[va])
    f1 = 2 * prec[:-1] * rec[:-1] / np.maximum(prec[:-1] + rec[:-1], 1e-12)
    best = int(np.argmax(f1))
    model = ClickModel.from_module(net, threshold=float(thr[best]), version=version)
    model.limits = limits
    figures = {
        "val_auprc": float(average_precision_score(y[va], p[va])),
        "val_f1": float(f1[best]),
        "threshold": float(thr[best]),
        "train_seed_nodes": len(tr),
        "val_seed_nodes": len(va),
        "graph_nodes": int(x.shape[0]),
    }
    logger.info("click model: %s", figures)
    return model, figures
