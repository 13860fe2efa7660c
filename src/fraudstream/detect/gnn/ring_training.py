"""Training the ring model on a history, and combining its score with the tabular one.

- :func:`stream_samples`: a history replayed as the live system sees it (batches
  in event order, each batch updates the :class:`RingGraph` then is sampled), so
  the training inputs are exactly the serving inputs;
- :func:`fit_ring_model`: transaction-level BCE on the samples (labels are the
  transactions' own ``is_fraud``, not "the card was ever fraudulent");
- :class:`LogitStacker`: the combination with the tabular score, a logistic
  regression on both logits fitted on a validation slice that neither model
  trained on (a fixed weight added to the probability dilutes the stronger
  score; a fitted stacker learns how much each is worth and where).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from fraudstream.detect.gnn.hetero import RingHeteroSAGE, TorchSample
from fraudstream.detect.gnn.ring_graph import RingGraph, RingGraphConfig
from fraudstream.errors import ValidationError

logger = logging.getLogger(__name__)


@dataclass(slots=True)
class RingTrainConfig:
    """Optimisation settings of :func:`fit_ring_model`."""

    hidden: int = 32
    epochs: int = 12
    lr: float = 5e-3
    weight_decay: float = 1e-4
    pos_weight: float = 10.0
    seed: int = 0


def stream_samples(
    records: Sequence[Mapping[str, Any]],
    batch_size: int = 256,
    graph: RingGraph | None = None,
    config: RingGraphConfig | None = None,
) -> tuple[list[TorchSample], RingGraph]:
    """Replay ``records`` (event order) batch by batch into a graph; one sample per batch."""
    g = graph if graph is not None else RingGraph(config)
    out = []
    for i in range(0, len(records), batch_size):
        out.append(TorchSample(g.update_and_sample(list(records[i : i + batch_size]))))
    return out, g


def fit_ring_model(
    samples: Sequence[TorchSample], config: RingTrainConfig | None = None
) -> RingHeteroSAGE:
    """Train :class:`RingHeteroSAGE` on per-batch samples (shuffled each epoch).

    Raises:
        ValidationError: the samples hold no fraudulent or no legitimate transaction.
    """
    import torch

    cfg = config or RingTrainConfig()
    y = torch.cat([s.y for s in samples]) if samples else torch.zeros(0)
    if int(y.sum()) == 0 or int((1 - y).sum()) == 0:
        raise ValidationError("training samples need fraudulent and legitimate transactions")
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    model = RingHeteroSAGE(hidden=cfg.hidden)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    loss_fn = torch.nn.BCEWithLogitsLoss(pos_weight=torch.tensor(cfg.pos_weight))
    for epoch in range(cfg.epochs):
        model.train()
        t0, total = time.process_time(), 0.0
        for i in rng.permutation(len(samples)):
            s = samples[i]
            opt.zero_grad()
            loss = loss_fn(model(s), s.y)
            loss.backward()
            opt.step()
            total += loss.item()
        logger.info(
            "ring model epoch %d: loss %.4f (%.1f s CPU)",
            epoch,
            total / len(samples),
            time.process_time() - t0,
        )
    return model


def _logit(p: np.ndarray) -> np.ndarray:
    q = np.clip(np.asarray(p, dtype=np.float64), 1e-6, 1 - 1e-6)
    return np.log(q / (1 - q))


class LogitStacker:
    """Logistic regression over ``[logit(tabular), logit(gnn), their product]``.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> y = rng.random(400) < 0.1
        >>> tab = np.where(y, 0.6, 0.2) + rng.random(400) * 0.1
        >>> gnn = np.where(y, 0.7, 0.1) + rng.random(400) * 0.1
        >>> st = LogitStacker().fit(tab, gnn, y)
        >>> bool(st.predict(tab, gnn)[y].min() > st.predict(tab, gnn)[~y].max())
        True
    """

    def __init__(self, c: float = 1.0) -> None:
        self.c = c
        self.coef_: np.ndarray | None = None

    @staticmethod
    def _design(tab: np.ndarray, gnn: np.ndarray) -> np.ndarray:
        a, b = _logit(tab), _logit(gnn)
        return np.column_stack([a, b, a * b / 10.0])

    def fit(self, tab: np.ndarray, gnn: np.ndarray, y: np.ndarray) -> LogitStacker:
        """Fit on a validation slice (``y``: ground truth there)."""
        from sklearn.linear_model import LogisticRegression

        y = np.asarray(y, dtype=bool)
        if y.all() or not y.any():
            raise ValidationError("the validation slice needs both classes to fit the stacker")
        lr = LogisticRegression(C=self.c, max_iter=1000)
        lr.fit(self._design(tab, gnn), y)
        self.coef_ = np.r_[lr.intercept_, lr.coef_.ravel()]
        logger.info("stacker: intercept, tabular, gnn, product = %s", np.round(self.coef_, 3))
        return self

    def predict(self, tab: np.ndarray, gnn: np.ndarray) -> np.ndarray:
        """Combined fraud probability."""
        if self.coef_ is None:
            raise ValidationError("LogitStacker.predict before fit")
        z = self.coef_[0] + self._design(tab, gnn) @ self.coef_[1:]
        return 1.0 / (1.0 + np.exp(-z))
