"""Heterogeneous, inductive GNN that scores transactions (edges) of the typed graph.

One GraphSAGE convolution per relation (PyG ``HeteroConv`` over ``SAGEConv``),
messages summed over relations, with a residual so node types that receive no
message in a sampled batch keep their embedding. A transaction's fraud logit
comes from an MLP over the embeddings of its endpoints (card, device, IP,
merchant, account, counterparty account; zeros where the field is empty) and
its own features. No node identity enters the model: nodes never seen in
training are embedded from their features and neighbourhood.
"""

from __future__ import annotations

import logging
from typing import cast

import numpy as np
import torch
from torch import Tensor, nn
from torch_geometric.nn import HeteroConv, SAGEConv

from fraudstream.detect.gnn.ring_graph import (
    EDGE_TYPES,
    ENDPOINTS,
    NODE_DIM,
    NODE_TYPES,
    TX_DIM,
    HeteroSample,
)

logger = logging.getLogger(__name__)

EdgeType = tuple[str, str, str]


class TorchSample:
    """A :class:`HeteroSample` as tensors (built once, reused every epoch)."""

    def __init__(self, s: HeteroSample) -> None:
        self.x = {t: torch.from_numpy(a) for t, a in s.x.items()}
        self.edge_index = {et: torch.from_numpy(a) for et, a in s.edge_index.items() if a.size}
        self.endpoints = {f: torch.from_numpy(a) for f, a in s.endpoints.items()}
        self.tx_x = torch.from_numpy(s.tx_x)
        self.y = torch.from_numpy(s.y)


class RingHeteroSAGE(nn.Module):
    """Per-relation SAGE over the typed transaction graph, transaction-level output.

    Args:
        hidden: embedding size.
        layers: message-passing layers (the sampler's hops should match).
        dropout: dropout before the head.

    Example:
        >>> from fraudstream.detect.gnn.ring_graph import RingGraph
        >>> g = RingGraph()
        >>> s = g.update_and_sample([{"card_id": "c1", "device_id": "d", "event_time": 0}])
        >>> model = RingHeteroSAGE(hidden=8)
        >>> tuple(model(TorchSample(s)).shape)
        (1,)
    """

    def __init__(self, hidden: int = 32, layers: int = 2, dropout: float = 0.1) -> None:
        super().__init__()
        self.hidden = hidden
        self.inp = nn.ModuleDict({t: nn.Linear(NODE_DIM, hidden) for t in NODE_TYPES})
        self.convs = nn.ModuleList(
            HeteroConv({et: SAGEConv((hidden, hidden), hidden) for et in EDGE_TYPES}, aggr="sum")
            for _ in range(layers)
        )
        self.norms = nn.ModuleList(
            nn.ModuleDict({t: nn.LayerNorm(hidden) for t in NODE_TYPES}) for _ in range(layers)
        )
        self.head = nn.Sequential(
            nn.Linear(len(ENDPOINTS) * (hidden + 1) + TX_DIM, hidden),
            nn.ReLU(),
            nn.Dropout(dropout),
            nn.Linear(hidden, 1),
        )

    def embed(self, s: TorchSample) -> dict[str, Tensor]:
        """Node embeddings per type after the message-passing layers."""
        h = {t: torch.relu(self.inp[t](s.x[t])) for t in NODE_TYPES}
        for conv, norm in zip(self.convs, self.norms, strict=True):
            msg = conv(h, s.edge_index) if s.edge_index else {}
            norm = cast(nn.ModuleDict, norm)
            h = {t: norm[t](h[t] + torch.relu(msg[t])) if t in msg else h[t] for t in NODE_TYPES}
        return h

    def forward(self, s: TorchSample) -> Tensor:
        """Fraud logit per transaction of the sample, shape ``[n]``."""
        h = self.embed(s)
        parts = []
        for t, f in ENDPOINTS:
            idx = s.endpoints[f]
            has = (idx >= 0).unsqueeze(1)
            emb = h[t][idx.clamp(min=0)] if len(h[t]) else torch.zeros(len(idx), self.hidden)
            parts += [emb * has, has.float()]
        return self.head(torch.cat([*parts, s.tx_x], dim=1)).squeeze(1)


def predict(model: RingHeteroSAGE, samples: list[TorchSample]) -> np.ndarray:
    """Fraud probability of every transaction of ``samples``, concatenated in order."""
    model.eval()
    with torch.no_grad():
        out = [torch.sigmoid(model(s)).double().numpy() for s in samples]
    return np.concatenate(out) if out else np.zeros(0)
