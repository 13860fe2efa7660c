"""Click-stream bot scoring on the live user-session-product graph: model, training, serving.

:class:`GraphClickScorer` is the scorer of the pipeline's ``user-events`` route:
per batch it updates the live graph (:class:`~.click_graph.ClickGraphState`, kept
in the partition's state store), samples the 2-hop neighbourhood of the batch's
sessions and runs the :class:`FraudNodeClassifier` once; every event gets its
session's score. :func:`fit_click_model` trains on the same per-batch subgraphs,
replayed from a labelled history (an earlier time window), so training and serving
see graphs built by the same code. Models are stored in a
:class:`~fraudstream.detect.registry.ModelRegistry` under ``<model_dir>/clickstream``.

``score_events`` writes ``user-events-scored`` records: the original event fields
unchanged plus ``fraud_score``, ``is_fraud``, ``model_version`` and ``scored_at``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from fraudstream.detect.base import Decisions, KeyValueStore
from fraudstream.detect.gnn.click_graph import (
    FEATURE_NAMES,
    NUM_FEATURES,
    ClickGraphState,
    DictStore,
    GraphLimits,
)

logger = logging.getLogger(__name__)

REGISTRY_SUBDIR = "clickstream"


class ClickModel:
    """A trained click-stream node classifier that pickles without torch objects.

    Example:
        >>> import numpy as np, torch
        >>> from fraudstream.detect.gnn.node_classifier import FraudNodeClassifier
        >>> torch.manual_seed(0) and None
        >>> net = FraudNodeClassifier(NUM_FEATURES, hidden_channels=4)
        >>> m = ClickModel.from_module(net, threshold=0.5, version="click-gnn-doc")
        >>> m.predict(np.zeros((2, NUM_FEATURES), np.float32), np.array([[0, 1], [1, 0]])).shape
        (2,)
    """

    def __init__(
        self,
        weights: dict[str, np.ndarray],
        *,
        hidden_channels: int,
        num_layers: int,
        threshold: float,
        version: str,
        limits: GraphLimits | None = None,
    ) -> None:
        self.weights = weights
        self.hidden_channels = hidden_channels
        self.num_layers = num_layers
        self.threshold = threshold
        self.version = version
        self.limits = limits or GraphLimits()
        self.feature_names = FEATURE_NAMES
        self._net: Any = None

    @classmethod
    def from_module(cls, net: Any, *, threshold: float, version: str) -> ClickModel:
        """Wrap a trained :class:`FraudNodeClassifier`."""
        weights = {k: v.detach().cpu().numpy().copy() for k, v in net.state_dict().items()}
        return cls(
            weights,
            hidden_channels=net.hidden_channels,
            num_layers=net.num_layers,
            threshold=threshold,
            version=version,
        )

    def __getstate__(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k != "_net"}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._net = None

    def module(self) -> Any:
        """The torch module (built once; torch is imported here, not at import time)."""
        if self._net is None:
            import torch

            from fraudstream.detect.gnn.node_classifier import FraudNodeClassifier

            net = FraudNodeClassifier(NUM_FEATURES, self.hidden_channels, self.num_layers)
            net.load_state_dict({k: torch.from_numpy(v) for k, v in self.weights.items()})
            self._net = net.eval()
        return self._net

    def predict(self, x: np.ndarray, edge_index: np.ndarray) -> np.ndarray:
        """Bot probability float64 [N] of every node, one forward pass."""
        import torch

        from fraudstream.detect.gnn.train import to_adjacency

        with torch.no_grad():
            logits = self.module()(torch.from_numpy(x), to_adjacency(edge_index, x.shape[0]))
        return np.asarray(torch.sigmoid(logits).double().numpy(), dtype=np.float64)


class GraphClickScorer:
    """``ScoreBatch`` of the user-events route: live graph update + one GNN call per batch.

    Example:
        See ``tests/unit/gnn/test_click_serving.py``.
    """

    def __init__(self, model: ClickModel) -> None:
        self.model = model
        self.model_version = model.version

    def __call__(self, records: list[dict[str, Any]], store: KeyValueStore) -> Decisions:
        state = ClickGraphState(store, self.model.limits)
        sessions = state.update(records)
        sub = state.sample(sessions)
        p_seed = self.model.predict(sub.x, sub.edge_index)[: len(sub.seeds)]
        state.flush()
        row = {sid: i for i, sid in enumerate(sub.seeds)}
        idx = np.fromiter((row[s] for s in sessions), dtype=np.int64, count=len(sessions))
        score = np.clip(p_seed[idx], 0.0, 1.0)
        thr = self.model.threshold
        risk = np.where(score >= thr, "HIGH", np.where(score >= thr / 2, "MEDIUM", "LOW"))
        feats = sub.x[idx]
        user_sessions = np.expm1(feats[:, FEATURE_NAMES.index("log_user_sessions")])
        reasons = [
            (["GNN_BOT_SESSION"] + ([f"graph:account_with_{round(n)}_sessions"] if n >= 3 else []))
            if s >= thr
            else []
            for s, n in zip(score.tolist(), user_sessions.tolist(), strict=True)
        ]
        return Decisions(
            fraud_score=score,
            risk_level=risk.astype(object),
            action=np.full(len(records), "ALLOW", dtype=object),
            reasons=reasons,
            model_version=self.model.version,
            features=feats,
            feature_names=FEATURE_NAMES,
        )


def replay_batches(
    events: Sequence[Mapping[str, Any]], store: KeyValueStore, limits: GraphLimits, batch: int
) -> Any:
    """Yield ``(start, sessions, subgraph)`` per batch of ``events`` replayed into ``store``."""
    for start in range(0, len(events), batch):
        state = ClickGraphState(store, limits)
        sessions = state.update(events[start : start + batch])
        sub = state.sample(sessions)
        state.flush()
        yield start, sessions, sub


def score_events(
    model: ClickModel,
    events: Sequence[Mapping[str, Any]],
    model_version: str | None = None,
    scored_at_ms: int = 0,
    store: KeyValueStore | None = None,
    batch: int = 256,
) -> list[dict[str, Any]]:
    """``user-events-scored`` records: each event unchanged plus the score fields."""
    scorer = GraphClickScorer(model)
    kv = store if store is not None else DictStore()
    out: list[dict[str, Any]] = []
    for start in range(0, len(events), batch):
        chunk = [dict(e) for e in events[start : start + batch]]
        d = scorer(chunk, kv)
        for e, s in zip(chunk, d.fraud_score.tolist(), strict=True):
            out.append(
                {
                    **e,
                    "fraud_score": float(s),
                    "is_fraud": bool(s >= model.threshold),
                    "model_version": model_version or model.version,
                    "scored_at": scored_at_ms,
                }
            )
    return out


def save_click_model(model: ClickModel, model_dir: Path, metadata: dict[str, Any]) -> str:
    """Register ``model`` under ``model_dir/clickstream`` and promote it; returns the version."""
    from fraudstream.detect.registry import ModelRegistry

    reg = ModelRegistry(Path(model_dir) / REGISTRY_SUBDIR)
    version = reg.register(model, {"kind": "clickstream-gnn", **metadata})
    reg.promote(version)
    return version


def load_click_model(model_dir: Path) -> ClickModel | None:
    """The champion click model of ``model_dir/clickstream``, or None when there is none."""
    from fraudstream.detect.registry import ModelRegistry

    reg = ModelRegistry(Path(model_dir) / REGISTRY_SUBDIR)
    if reg.champion_version() is None:
        return None
    version, model = reg.champion()
    if not isinstance(model, ClickModel):
        from fraudstream.errors import ConfigError

        raise ConfigError(f"{reg.root} champion is a {type(model).__name__}, not a ClickModel")
    model.version = f"click-gnn-{version}"  # the registry version names what scored
    return model
