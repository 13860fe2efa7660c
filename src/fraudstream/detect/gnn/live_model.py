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
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from fraudstream.detect.gnn.live import NODE_FEATURES
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
