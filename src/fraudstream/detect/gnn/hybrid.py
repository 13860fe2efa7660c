"""BWGNN benchmark methods: the pure spectral GNN and its residual over the trees.

``bwgnn_scores`` is what ``fraudstream gnn benchmark`` runs for ``gnn_bwgnn`` and
``gnn_bwgnn_residual``. Every choice below was made on the validation split of the
Amazon U-P-U benchmark (seeds 0-4), never on test; docs/models.md lists what was tried.

The residual variant starts from the out-of-fold logit of the GADBench tree model
(XGBoost on node + neighbour-aggregated features, trained on the training split
only, each training node scored by the fold model that did not see it) and learns
a band-pass correction from the graph: BGNN's "boost then convolve" with BWGNN's
filters instead of a low-pass one.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
from sklearn.preprocessing import QuantileTransformer

logger = logging.getLogger(__name__)


@dataclass(slots=True, frozen=True)
class BWGNNSettings:
    """Model and training settings of the benchmark's BWGNN methods (chosen on validation)."""

    hidden_channels: int = 64
    order: int = 2
    lr: float = 0.003
    weight_decay: float = 1e-4
    max_epochs: int = 200
    patience: int = 40
    inits: int = 5
    pos_weight_power: float = 0.5


def rank_gauss(x: np.ndarray, fit_idx: np.ndarray, seed: int) -> np.ndarray:
    """Rank-Gaussian (quantile) transform fitted on ``fit_idx`` rows only, float32.

    Amazon's features are counts and ratios with long tails; trees are blind to
    monotone rescaling, MLPs are not.
    """
    qt = QuantileTransformer(
        n_quantiles=min(200, len(fit_idx)), output_distribution="normal", random_state=seed
    )
    return np.asarray(qt.fit(x[fit_idx]).transform(x), dtype=np.float32)


def to_logit(p: np.ndarray) -> np.ndarray:
    """Log-odds of probabilities, clipped away from 0 and 1."""
    q = np.clip(np.asarray(p, dtype=np.float64), 1e-6, 1 - 1e-6)
    return np.asarray(np.log(q / (1 - q)))


def bwgnn_scores(
    x_raw: np.ndarray,
    edge_index: np.ndarray,
    y: np.ndarray,
    train_idx: np.ndarray,
    val_idx: np.ndarray,
    seed: int,
    offset_logit: np.ndarray | None = None,
    settings: BWGNNSettings | None = None,
) -> np.ndarray:
    """Fraud probabilities [N] of BWGNN, averaged over ``settings.inits`` initialisations.

    Args:
        x_raw: float [N, F] node features (rank-Gaussian transformed here, fitted on train).
        edge_index: int64 [2, E] graph edges.
        y: int [N] labels; only ``train_idx`` (loss) and ``val_idx`` (early stopping) are read.
        train_idx, val_idx: node indices.
        seed: split seed; initialisations derive from it.
        offset_logit: out-of-fold logits [N] of a model trained on ``train_idx`` only.
            Given, it is also appended as a feature and the GNN learns a residual on it.
        settings: model and training knobs.

    Returns:
        float64 [N] probabilities.
    """
    import torch

    from fraudstream.detect.gnn.bwgnn import BWGNNClassifier, normalized_adjacency
    from fraudstream.detect.gnn.ensemble_train import EnsembleConfig, fit_ensemble

    s = settings or BWGNNSettings()
    feats = x_raw if offset_logit is None else np.hstack([x_raw, offset_logit[:, None]])
    x = rank_gauss(feats, train_idx, seed)
    adj = normalized_adjacency(edge_index, x.shape[0])
    residual = offset_logit is not None

    def factory(_: int) -> BWGNNClassifier:
        m = BWGNNClassifier(x.shape[1], s.hidden_channels, s.order)
        if residual:
            # Start exactly at the trees' ranking; keep only corrections that help.
            torch.nn.init.zeros_(m.head2.weight)
            torch.nn.init.zeros_(m.head2.bias)
        return m

    cfg = EnsembleConfig(
        lr=s.lr,
        weight_decay=s.weight_decay,
        max_epochs=s.max_epochs,
        patience=s.patience,
        inits=s.inits,
        pos_weight_power=s.pos_weight_power,
        seed=seed,
    )
    return fit_ensemble(factory, x, adj, y, train_idx, val_idx, cfg, offset=offset_logit)
