"""Full-batch training of any ``model(x, graph) -> logits`` module, averaged over inits.

:func:`fit_node_classifier` in ``train.py`` trains the separated-SAGE model; this
module trains any node classifier with the same contract (BWGNN included), with
early stopping on validation AUPRC per initialisation, and averages the logits of
several initialisations: on a graph this small one run's validation-selected epoch
is noisy, and the average of a few is both steadier and better ranked.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.metrics import average_precision_score
from torch import Tensor, nn

logger = logging.getLogger(__name__)

ModelFactory = Callable[[int], nn.Module]


@dataclass(slots=True)
class EnsembleConfig:
    """Training knobs of :func:`fit_ensemble`."""

    lr: float = 0.003
    weight_decay: float = 1e-4
    max_epochs: int = 200
    patience: int = 40
    inits: int = 5
    # pos_weight = (neg / pos) ** pos_weight_power: 0.5 is the square-root re-weighting.
    pos_weight_power: float = 0.5
    seed: int = 0


def _logits(model: nn.Module, x: Tensor, graph: Tensor, offset: Tensor | None) -> Tensor:
    out: Tensor = model(x, graph)
    return out if offset is None else out + offset


def fit_one(
    model: nn.Module,
    x: Tensor,
    graph: Tensor,
    y: np.ndarray,
    train_idx: np.ndarray,
    val_idx: np.ndarray,
    cfg: EnsembleConfig,
    offset: Tensor | None = None,
) -> tuple[np.ndarray, int, float]:
    """Train ``model`` in place; return its best logits [N], best epoch and val AUPRC."""
    yt = torch.from_numpy(np.asarray(y, dtype=np.float32))
    tr = torch.from_numpy(np.asarray(train_idx, dtype=np.int64))
    n_pos = max(int(yt[tr].sum()), 1)
    pos_weight = torch.tensor(((len(tr) - n_pos) / n_pos) ** cfg.pos_weight_power)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    y_val = np.asarray(y)[val_idx]
    best_ap, best_epoch, best_state = -1.0, -1, copy.deepcopy(model.state_dict())
    for epoch in range(cfg.max_epochs):
        model.train()
        opt.zero_grad()
        loss = F.binary_cross_entropy_with_logits(
            _logits(model, x, graph, offset)[tr], yt[tr], pos_weight=pos_weight
        )
        loss.backward()
        opt.step()
        model.eval()
        with torch.no_grad():
            val = _logits(model, x, graph, offset).numpy()[val_idx]
        ap = float(average_precision_score(y_val, val))
        if ap > best_ap:
            best_ap, best_epoch, best_state = ap, epoch, copy.deepcopy(model.state_dict())
        elif epoch - best_epoch >= cfg.patience:
            break
    model.load_state_dict(best_state)
    model.eval()
    with torch.no_grad():
        logits = _logits(model, x, graph, offset).double().numpy()
    return logits, best_epoch, best_ap


def fit_ensemble(
    factory: ModelFactory,
    x: np.ndarray,
    graph: Tensor,
    y: np.ndarray,
    train_idx: np.ndarray,
    val_idx: np.ndarray,
    config: EnsembleConfig | None = None,
    offset: np.ndarray | None = None,
) -> np.ndarray:
    """Train ``config.inits`` models and return the mean of their logits, as probabilities.

    Args:
        factory: ``factory(init)`` builds a fresh model (``init`` = 0, 1, ...); torch's
            seed is set to ``config.seed * 1000 + init`` before each call.
        x: float32 [N, F] node features, already normalised.
        graph: the graph argument the model's ``forward`` takes (sparse adjacency).
        y: int [N] labels (only ``train_idx`` and ``val_idx`` are read).
        train_idx, val_idx: node indices; each init stops early on validation AUPRC.
        config: training knobs.
        offset: optional fixed logits [N] added to the model's (residual training;
            the factory should then zero the output layer so training starts there).

    Returns:
        float64 [N] fraud probabilities for every node.

    Example:
        >>> import numpy as np, torch
        >>> from fraudstream.detect.gnn.bwgnn import BWGNNClassifier, normalized_adjacency
        >>> rng = np.random.default_rng(0)
        >>> y = (rng.random(40) < 0.3).astype(np.int64)
        >>> x = (rng.normal(size=(40, 3)) + y[:, None]).astype(np.float32)
        >>> adj = normalized_adjacency(np.array([np.arange(39), np.arange(1, 40)]), 40)
        >>> cfg = EnsembleConfig(max_epochs=5, inits=2)
        >>> p = fit_ensemble(lambda i: BWGNNClassifier(3, 8), x, adj, y,
        ...                  np.arange(25), np.arange(25, 40), cfg)
        >>> p.shape
        (40,)
    """
    cfg = config or EnsembleConfig()
    xt = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))
    off = None if offset is None else torch.from_numpy(np.asarray(offset, dtype=np.float32))
    total = np.zeros(xt.shape[0])
    for init in range(cfg.inits):
        torch.manual_seed(cfg.seed * 1000 + init)
        logits, epoch, ap = fit_one(factory(init), xt, graph, y, train_idx, val_idx, cfg, off)
        logger.info("init %d: best val AUPRC %.4f at epoch %d", init, ap, epoch)
        total += logits
    mean = total / cfg.inits
    return 1.0 / (1.0 + np.exp(-mean))
