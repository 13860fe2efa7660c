"""Loader for the CARE-GNN family of ``.mat`` graph files (Amazon, YelpChi and variants).

Two namings are in the wild: CARE-GNN's own files carry ``features``, ``label``,
``homo`` and one ``net_*`` adjacency per relation; re-saves used by TAM, DGAD and
other anomaly-detection work carry ``Attributes``, ``Label`` and one ``Network``.
Both load into the same :class:`GraphData`. Files may be gzip-compressed (the
project's ``shared/datasets`` keeps them as ``.mat.gz``).

The loader is numpy/scipy only, so the GBM baselines and the data checks run
without torch.
"""

from __future__ import annotations

import gzip
import io
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import scipy.io
import scipy.sparse as sp

from fraudstream.errors import ValidationError

logger = logging.getLogger(__name__)

_FEATURE_KEYS = ("features", "Attributes")
_LABEL_KEYS = ("label", "Label")
_HOMO_KEYS = ("homo", "Network")


@dataclass(slots=True)
class GraphData:
    """A node-classification graph: features, binary labels, one CSR adjacency per relation.

    Attributes:
        x: float32 [n, f] node features.
        y: int64 [n] labels, 1 = fraudulent.
        homo: CSR [n, n] symmetric 0/1 adjacency of all relations merged, no self-loops.
        relations: relation name (``net_upu`` ...) to CSR [n, n] adjacency; a file with
            only a homogeneous graph has ``{"homo": homo}``.
        name: a short name for reports.

    Example:
        >>> import numpy as np, scipy.sparse as sp
        >>> a = sp.csr_matrix(np.array([[0, 1], [1, 0]], dtype=np.float32))
        >>> g = GraphData(np.zeros((2, 3), np.float32), np.array([0, 1]), a, {"homo": a})
        >>> g.num_nodes, g.num_edges, round(g.positive_rate, 2)
        (2, 1, 0.5)
    """

    x: np.ndarray
    y: np.ndarray
    homo: sp.csr_matrix
    relations: dict[str, sp.csr_matrix] = field(default_factory=dict)
    name: str = "graph"

    @property
    def num_nodes(self) -> int:
        return int(self.x.shape[0])

    @property
    def num_edges(self) -> int:
        """Undirected edges of ``homo``."""
        return int(self.homo.nnz // 2)

    @property
    def positive_rate(self) -> float:
        return float(self.y.mean()) if self.y.size else 0.0

    def edge_index(self, relation: str | None = None) -> np.ndarray:
        """int64 [2, nnz] (row, col) of a relation's adjacency, both directions."""
        adj = self.homo if relation is None else self.relations[relation]
        coo = adj.tocoo()
        return np.vstack([coo.row, coo.col]).astype(np.int64)


def load_care_mat(path: str | Path) -> GraphData:
    """Read a CARE-GNN style ``.mat`` (or ``.mat.gz``) file.

    Raises:
        ValidationError: the file is missing, not a MATLAB file, or lacks features,
            labels or any adjacency; or shapes disagree.
    """
    p = Path(path)
    if not p.is_file():
        raise ValidationError(f"no such graph file: {p}", field="dataset")
    raw = p.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    try:
        mat: dict[str, Any] = scipy.io.loadmat(io.BytesIO(raw))
    except (ValueError, TypeError, OSError, IndexError, KeyError) as exc:
        raise ValidationError(f"{p.name} is not a readable .mat file: {exc}") from exc
    name = p.name.split(".")[0]
    return graph_from_mat_dict(mat, name=name)


def graph_from_mat_dict(mat: dict[str, Any], name: str = "graph") -> GraphData:
    """Build :class:`GraphData` from the dict ``scipy.io.loadmat`` returns."""
    x_raw = _first(mat, _FEATURE_KEYS, "features")
    y_raw = _first(mat, _LABEL_KEYS, "label")
    x = (x_raw.toarray() if sp.issparse(x_raw) else np.asarray(x_raw)).astype(np.float32)
    y = np.asarray(y_raw).reshape(-1).astype(np.int64)
    n = x.shape[0]
    if y.shape[0] != n:
        raise ValidationError(f"{n} feature rows but {y.shape[0]} labels", field="label")
    if not set(np.unique(y).tolist()) <= {0, 1}:
        raise ValidationError("labels must be 0/1", field="label")
    relations = {
        k: _adjacency(v, n, k)
        for k, v in sorted(mat.items())
        if k.startswith("net_") and not k.startswith("__")
    }
    homo_key = next((k for k in _HOMO_KEYS if k in mat), None)
    if homo_key is not None:
        homo = _adjacency(mat[homo_key], n, homo_key)
    elif relations:
        homo = _adjacency(sum(relations.values()), n, "homo")
    else:
        raise ValidationError("no adjacency (homo, Network or net_*) in file", field="homo")
    if not relations:
        relations = {"homo": homo}
    logger.info(
        "loaded graph %s: %d nodes, %d edges, relations %s, %.2f%% positive",
        name,
        n,
        homo.nnz // 2,
        list(relations),
        100 * float(y.mean()),
    )
    return GraphData(x=x, y=y, homo=homo, relations=relations, name=name)


def _first(mat: dict[str, Any], keys: tuple[str, ...], what: str) -> Any:
    for k in keys:
        if k in mat:
            return mat[k]
    raise ValidationError(f"no {what} in file (looked for {', '.join(keys)})", field=what)


def _adjacency(a: Any, n: int, key: str) -> sp.csr_matrix:
    adj = sp.csr_matrix(a, dtype=np.float32)
    if adj.shape != (n, n):
        raise ValidationError(f"adjacency {key} has shape {adj.shape}, want ({n}, {n})", field=key)
    # Symmetrise and binarise: some re-saves store weights or one direction only.
    adj = ((adj + adj.T) > 0).astype(np.float32)
    adj.setdiag(0)
    adj.eliminate_zeros()
    return sp.csr_matrix(adj)
