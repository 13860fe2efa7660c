"""The live model at serving time: seed-only forward pass, save and load.

A ``k``-layer GNN's output at the batch's cards (the seeds) depends on layer
``l`` only at nodes within ``k - l`` hops. :func:`seed_logits` computes each
layer only where it is needed (PyG's "trim to layer" idea), on the subgraph that
:meth:`~fraudstream.detect.gnn.live.LiveGraph.sample_slots` numbers hop by hop;
the seeds' logits equal those of the full forward pass over the subgraph.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from fraudstream.detect.gnn.live import NODE_FEATURES, LiveGraph
from fraudstream.detect.gnn.node_classifier import FraudNodeClassifier
from fraudstream.detect.gnn.sep_sage_conv import SepSAGEConv
from fraudstream.errors import ConfigError, ScoringError

logger = logging.getLogger(__name__)

MODEL_FILE = "live_gnn.pt"
META_FILE = "live_gnn.json"


def seed_logits(
    model: FraudNodeClassifier, x: np.ndarray, edge_index: np.ndarray, ends: list[int]
) -> Tensor:
    """Logits of the first ``ends[0]`` nodes (eval mode; call under ``inference_mode``).

    Args:
        model: the node classifier (its layers are read, its ``forward`` is not called).
        x: node features ``[N, F]``, nodes numbered hop by hop.
        edge_index: ``[2, E]`` (source, target) over those positions.
        ends: ``ends[k]``: nodes within ``k`` hops; ``len(ends) > model.num_layers``.

    Example:
        >>> m = FraudNodeClassifier(3, hidden_channels=4).eval()
        >>> x = np.ones((3, 3), np.float32); ei = np.array([[1, 0, 2, 1], [0, 1, 1, 2]])
        >>> full = m(torch.from_numpy(x), torch.from_numpy(ei))[:1]
        >>> bool(torch.allclose(seed_logits(m, x, ei, [1, 2, 3]), full, atol=1e-6))
        True
    """
    layers = model.num_layers
    if len(ends) <= layers:
        raise ScoringError(f"subgraph has {len(ends) - 1} hops, the model needs {layers}")
    n = ends[layers]
    h = F.relu(model.enc2(F.relu(model.enc1(torch.from_numpy(x[:n])))))
    outs = [h[: ends[0]]]
    src_all = torch.from_numpy(edge_index[0])
    dst_all = torch.from_numpy(edge_index[1])
    for i, (conv, proj) in enumerate(zip(model.convs, model.projs, strict=True)):
        m = ends[layers - 1 - i]  # targets: nodes whose layer-(i+1) output is needed
        sel = dst_all < m
        src, dst = src_all[sel], dst_all[sel]
        agg = torch.zeros((m, h.shape[1]), dtype=h.dtype).index_add_(0, dst, h[src])
        cnt = torch.bincount(dst, minlength=m).clamp_(min=1).to(h.dtype)
        mean = agg / cnt[:, None]
        sep = cast(SepSAGEConv, conv)
        both = torch.cat([sep.lin_self(h[:m]), sep.lin_nbr(mean)], dim=-1)
        h = F.relu(proj(F.relu(both)))
        outs.append(h[: ends[0]])
    z = torch.cat(outs, dim=-1)
    return model.head2(F.relu(model.head1(z))).view(-1)


def _encode(model: FraudNodeClassifier, x: Tensor) -> Tensor:
    return F.relu(model.enc2(F.relu(model.enc1(x))))


def _conv(conv: Any, proj: Any, h_self: Tensor, h_src: Tensor, mask: np.ndarray) -> Tensor:
    """One separated SAGE layer; ``h_src``: the rows of ``mask [n, k]``'s true cells."""
    dst = np.nonzero(mask)[0]
    agg = h_self.new_zeros(h_self.shape).index_add_(0, torch.from_numpy(dst), h_src)
    cnt = torch.from_numpy(mask.sum(axis=1, dtype=np.float32)).clamp_(min=1.0)
    sep = cast(SepSAGEConv, conv)
    both = torch.cat([sep.lin_self(h_self), sep.lin_nbr(agg / cnt[:, None])], dim=-1)
    return F.relu(proj(F.relu(both)))


class EncoderCache:
    """The encoder's output (the ego MLP, before any message passing) per graph slot.

    It depends on the node's own features only, so it is recomputed exactly where
    :attr:`LiveGraph.x_ver` says the features changed since it was computed: the
    cache never serves a stale row, and a batch encodes only the nodes its events
    touched instead of its whole 2-hop neighbourhood.

    Example:
        >>> g = LiveGraph(); g.update([{"card_id": "c", "device_id": "d", "event_time": 0}])
        >>> m = FraudNodeClassifier(len(NODE_FEATURES), hidden_channels=4).eval()
        >>> with torch.inference_mode():
        ...     h = EncoderCache(m).rows(g, np.array([0, 1]))
        >>> tuple(h.shape[1:]), int(EncoderCache(m).ver.size)
        ((4,), 0)
    """

    def __init__(self, model: FraudNodeClassifier) -> None:
        self.model = model
        self.h = torch.zeros((1, model.hidden_channels))
        self.ver = np.zeros(0, np.int64)
        self.encoded = 0  # rows computed so far (a measure of the work saved)

    def rows(self, graph: LiveGraph, slots: np.ndarray) -> Tensor:
        """The cache ``[capacity + 1, H]`` with ``slots`` fresh; its last row encodes zeros
        (index it with ``-1`` for a node the graph does not know)."""
        cap = graph.x.shape[0]
        if self.ver.size != cap:  # the graph grew: keep what is valid, encode zeros last
            h = torch.zeros((cap + 1, self.model.hidden_channels))
            keep = min(cap, self.ver.size)
            h[:keep] = self.h[:keep]
            h[cap] = _encode(self.model, torch.zeros((1, graph.x.shape[1])))[0]
            ver = np.full(cap, -1, np.int64)
            ver[:keep] = self.ver[:keep]
            self.h, self.ver = h, ver
            # Encode the whole graph once (a few ms per 100k nodes): lazily, each batch
            # would meet thousands of never-encoded cards two hops away.
            stale = np.nonzero(self.ver != graph.x_ver)[0]
        else:
            s = slots[slots >= 0]
            stale = np.unique(s[self.ver[s] != graph.x_ver[s]])
        if stale.size:
            self.h[stale] = _encode(self.model, torch.from_numpy(graph.x[stale]))
            self.ver[stale] = graph.x_ver[stale]
            self.encoded += int(stale.size)
        return self.h


def row_logits(
    model: FraudNodeClassifier,
    cache: EncoderCache,
    graph: LiveGraph,
    seeds: np.ndarray,
    fanout: Sequence[int],
) -> Tensor:
    """Logits of ``seeds`` (slots, ``-1``: unknown) from the graph's neighbour rows.

    Each node averages its own ``fanout[hop]`` most recent live neighbours (the
    direction of training's edges, owner row -> neighbour), gathered as padded
    rows: no subgraph is built or renumbered, and the encoder comes from ``cache``.
    Two-layer models only (the served shape). Call under ``inference_mode``.

    Raises:
        ScoringError: the model does not have two layers.
    """
    if model.num_layers != 2 or len(fanout) < 2:
        raise ScoringError(f"row forward needs 2 layers and 2 fanouts, got {model.num_layers}")
    n1, m1 = graph.recent(seeds, fanout[0])
    hop1, inv = np.unique(n1[m1], return_inverse=True)
    n2, m2 = graph.recent(hop1, fanout[1])
    h = cache.rows(graph, np.concatenate([seeds, hop1, n2[m2]]))

    def take(t: Tensor, idx: np.ndarray) -> Tensor:
        return t.index_select(0, torch.from_numpy(idx))

    seeds_h = np.where(seeds >= 0, seeds, h.shape[0] - 1)  # unknown: the zeros row
    h0_s, h0_u = take(h, seeds_h), take(h, hop1)
    (c1, c2), (p1, p2) = model.convs, model.projs
    h1_s = _conv(c1, p1, h0_s, take(h, n1[m1]), m1)
    h1_u = _conv(c1, p1, h0_u, take(h, n2[m2]), m2)
    h2_s = _conv(c2, p2, h1_s, take(h1_u, inv.reshape(-1)), m1)
    z = torch.cat([h0_s, h1_s, h2_s], dim=-1)
    return model.head2(F.relu(model.head1(z))).view(-1)


def save_live_model(model: FraudNodeClassifier, folder: Path, **meta: Any) -> Path:
    """Write the weights and their shape (``live_gnn.pt`` + ``live_gnn.json``) to ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    torch.save(model.state_dict(), folder / MODEL_FILE)
    info = {
        "in_channels": model.in_channels,
        "hidden_channels": model.hidden_channels,
        "num_layers": model.num_layers,
        "node_features": list(NODE_FEATURES),
        **meta,
    }
    (folder / META_FILE).write_text(json.dumps(info, indent=2))
    return folder / MODEL_FILE


def load_live_model(folder: Path) -> FraudNodeClassifier:
    """The model :func:`save_live_model` wrote, in eval mode.

    Raises:
        ConfigError: files missing or written for other node features.
    """
    try:
        info = json.loads((folder / META_FILE).read_text())
        state = torch.load(folder / MODEL_FILE, map_location="cpu", weights_only=True)
    except (OSError, ValueError, RuntimeError) as exc:
        raise ConfigError(f"cannot load the live GNN from {folder}: {exc}") from exc
    if info.get("node_features") != list(NODE_FEATURES):
        raise ConfigError(f"live GNN in {folder} expects other node features")
    model = FraudNodeClassifier(
        info["in_channels"], hidden_channels=info["hidden_channels"], num_layers=info["num_layers"]
    )
    model.load_state_dict(state)
    logger.info("live GNN loaded from %s", folder)
    return model.eval()
