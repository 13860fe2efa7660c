"""The graph fraud benchmark protocol (CARE-GNN / BWGNN / GADBench).

Per seed: a stratified 40/20/40 train/validation/test split of the labelled nodes;
each method trains on train, picks its decision threshold on validation (the one
that maximises F1-macro) and is scored on test. Reported: mean and standard
deviation over seeds of ROC AUC, AUPRC, F1-macro and fraud recall at that threshold.
Methods: XGBoost on node features, XGBoost on node + neighbour-aggregated features
(GADBench's best), :class:`FraudNodeClassifier` variants and BWGNN (``hybrid.py``).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from sklearn.metrics import average_precision_score, f1_score, recall_score, roc_auc_score
from sklearn.model_selection import train_test_split

from fraudstream.detect.gnn.baselines import (
    cross_fit_gbm,
    fit_predict_gbm,
    neighbour_aggregates,
)
from fraudstream.detect.gnn.hybrid import BWGNNSettings, bwgnn_scores, rank_gauss, to_logit
from fraudstream.detect.gnn.mat_loader import GraphData

logger = logging.getLogger(__name__)

METHODS = (
    "xgb_features",
    "xgb_neighbour_agg",
    "gnn_sepsage",
    "gnn_boosted",
    "gnn_residual",
    "gnn_bwgnn",
    "gnn_bwgnn_residual",
)
METRICS = ("roc_auc", "auprc", "f1_macro", "recall")
# The strongest baseline: every other method is also reported paired against it.
REFERENCE = "xgb_neighbour_agg"


@dataclass(slots=True)
class BenchmarkResult:
    """Per-method, per-seed test metrics and their summary."""

    dataset: str
    num_nodes: int
    num_edges: int
    num_positive: int
    seeds: list[int]
    runs: dict[str, list[dict[str, float]]] = field(default_factory=dict)

    @property
    def seeds_done(self) -> int:
        return min((len(r) for r in self.runs.values()), default=0)

    def summary(self) -> dict[str, dict[str, tuple[float, float]]]:
        """method -> metric -> (mean, std) over seeds."""
        out: dict[str, dict[str, tuple[float, float]]] = {}
        for method, runs in self.runs.items():
            out[method] = {}
            for m in (*METRICS, "seconds"):
                vals = np.array([r[m] for r in runs])
                out[method][m] = (float(vals.mean()), float(vals.std()))
        return out

    def paired(self, reference: str = REFERENCE) -> dict[str, dict[str, tuple[float, int]]]:
        """method -> metric -> (mean of per-seed differences to ``reference``, seeds won).

        Paired over the same splits: the split explains most of the spread in the
        summary's standard deviations, the per-seed difference removes it.
        """
        if reference not in self.runs:
            return {}
        ref = self.runs[reference]
        out: dict[str, dict[str, tuple[float, int]]] = {}
        for method, runs in self.runs.items():
            if method == reference:
                continue
            k = min(len(runs), len(ref))
            out[method] = {}
            for m in METRICS:
                d = np.array([runs[i][m] - ref[i][m] for i in range(k)])
                out[method][m] = (float(d.mean()) if k else 0.0, int((d > 0).sum()))
        return out

    def to_json(self) -> str:
        return json.dumps(
            {
                "dataset": self.dataset,
                "num_nodes": self.num_nodes,
                "num_edges": self.num_edges,
                "num_positive": self.num_positive,
                "seeds": self.seeds[: self.seeds_done],
                "protocol": "stratified 40/20/40, threshold max F1-macro on validation",
                "runs": self.runs,
                "summary": self.summary(),
                "paired_vs": REFERENCE,
                "paired": self.paired(),
            },
            indent=2,
        )

    def to_markdown(self) -> str:
        lines = [
            f"Dataset `{self.dataset}`: {self.num_nodes:,} nodes, {self.num_edges:,} edges, "
            f"{self.num_positive:,} fraudulent; {self.seeds_done} seeds, mean ± std (%).",
            "",
            "| method | ROC AUC | AUPRC | F1-macro | recall | s/seed |",
            "|---|---|---|---|---|---|",
        ]
        for method, stats in self.summary().items():
            cells = [f"{100 * stats[m][0]:.2f} ± {100 * stats[m][1]:.2f}" for m in METRICS]
            lines.append(f"| {method} | {' | '.join(cells)} | {stats['seconds'][0]:.1f} |")
        paired = self.paired()
        if paired:
            lines += [
                "",
                f"Paired with `{REFERENCE}` on the same splits: mean per-seed difference "
                "(points) and seeds won.",
                "",
                "| method | ROC AUC | AUPRC | F1-macro | recall |",
                "|---|---|---|---|---|",
            ]
            for method, diffs in paired.items():
                k = len(self.runs[method])
                cells = [f"{100 * diffs[m][0]:+.2f} ({diffs[m][1]}/{k})" for m in METRICS]
                lines.append(f"| {method} | {' | '.join(cells)} |")
        return "\n".join(lines) + "\n"


def stratified_split(
    y: np.ndarray, seed: int, train: float = 0.4, val: float = 0.2
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Stratified train/validation/test node indices (40/20/40 by default)."""
    idx = np.arange(y.shape[0])
    tr, rest = train_test_split(idx, train_size=train, stratify=y, random_state=seed)
    va, te = train_test_split(
        rest, train_size=val / (1 - train), stratify=y[rest], random_state=seed
    )
    return np.sort(tr), np.sort(va), np.sort(te)


def best_f1_threshold(y: np.ndarray, p: np.ndarray) -> float:
    """The score threshold ``t`` (predict fraud when ``p >= t``) maximising F1-macro.

    Vectorised over every distinct score: sklearn's ``f1_score`` in a loop costs
    seconds per call on a busy machine.
    """
    y = np.asarray(y).astype(bool)
    order = np.argsort(-p, kind="stable")
    ps, ys = p[order], y[order]
    # Candidate cuts: after the last element of each run of equal scores.
    last = np.r_[ps[1:] != ps[:-1], True]
    tp = np.cumsum(ys)[last]
    fp = np.cumsum(~ys)[last]
    pos, neg = int(y.sum()), int((~y).sum())
    fn, tn = pos - tp, neg - fp
    f1_pos = np.divide(
        2 * tp, 2 * tp + fp + fn, out=np.zeros(tp.shape), where=(2 * tp + fp + fn) > 0
    )
    f1_neg = np.divide(
        2 * tn, 2 * tn + fn + fp, out=np.zeros(tn.shape), where=(2 * tn + fn + fp) > 0
    )
    best = int(np.argmax((f1_pos + f1_neg) / 2))
    return float(ps[last][best])


def split_metrics(
    y_val: np.ndarray, p_val: np.ndarray, y: np.ndarray, p: np.ndarray
) -> dict[str, float]:
    """Test metrics with the threshold chosen on validation."""
    t = best_f1_threshold(y_val, p_val)
    pred = p >= t
    return {
        "roc_auc": float(roc_auc_score(y, p)),
        "auprc": float(average_precision_score(y, p)),
        "f1_macro": float(f1_score(y, pred, average="macro")),
        "recall": float(recall_score(y, pred)),
        "threshold": t,
    }


Method = Callable[[GraphData, np.ndarray, np.ndarray, int], np.ndarray]


def _xgb_features(g: GraphData, tr: np.ndarray, _va: np.ndarray, seed: int) -> np.ndarray:
    return fit_predict_gbm(g.x[tr], g.y[tr], [g.x], seed)[0]


def _xgb_agg(g: GraphData, tr: np.ndarray, _va: np.ndarray, seed: int) -> np.ndarray:
    xa = neighbour_aggregates(g.x, g.homo, hops=2)
    return fit_predict_gbm(xa[tr], g.y[tr], [xa], seed)[0]


def _gnn_on(
    x_raw: np.ndarray, g: GraphData, tr: np.ndarray, va: np.ndarray, seed: int
) -> np.ndarray:
    from fraudstream.detect.gnn.train import TrainConfig, fit_node_classifier

    # Counts and ratios with long tails: a rank-Gaussian transform fitted on the
    # training nodes only gives the MLP the scale-free view trees get for free.
    x = rank_gauss(x_raw, tr, seed)
    _, probs = fit_node_classifier(x, g.edge_index(), g.y, tr, va, TrainConfig(seed=seed))
    return probs


def _gnn(g: GraphData, tr: np.ndarray, va: np.ndarray, seed: int) -> np.ndarray:
    return _gnn_on(g.x, g, tr, va, seed)


def _gnn_boosted(g: GraphData, tr: np.ndarray, va: np.ndarray, seed: int) -> np.ndarray:
    # Boost then convolve: the out-of-fold score of the strongest tree model (node +
    # neighbour-aggregated features) becomes one more node feature, and the GNN
    # learns how neighbours' scores shift a node's risk.
    score = cross_fit_gbm(neighbour_aggregates(g.x, g.homo, hops=2), g.y, tr, seed, folds=3)
    logit = to_logit(score)
    return _gnn_on(np.hstack([g.x, logit[:, None]]), g, tr, va, seed)


def _oof_agg_logit(g: GraphData, tr: np.ndarray, seed: int) -> np.ndarray:
    """Out-of-fold logit of XGBoost on node + neighbour-aggregated features (train only).

    Cached per (graph, seed, split): ``gnn_residual`` and ``gnn_bwgnn_residual`` share it.
    """
    key = (g.name, g.num_nodes, seed, hash(tr.tobytes()))
    if key not in _OOF_CACHE:
        _OOF_CACHE.clear()  # one split at a time
        score = cross_fit_gbm(
            neighbour_aggregates(g.x, g.homo, hops=2), g.y, tr, seed, folds=5, n_estimators=400
        )
        _OOF_CACHE[key] = to_logit(score)
    return _OOF_CACHE[key]


_OOF_CACHE: dict[tuple[str, int, int, int], np.ndarray] = {}


def _gnn_residual(g: GraphData, tr: np.ndarray, va: np.ndarray, seed: int) -> np.ndarray:
    # BGNN-style residual: the GNN starts from the out-of-fold GBM + neighbour
    # aggregation logit (a fixed offset) and learns a neighbourhood correction.
    from fraudstream.detect.gnn.train import TrainConfig, fit_node_classifier

    logit = _oof_agg_logit(g, tr, seed)
    x = rank_gauss(np.hstack([g.x, logit[:, None]]), tr, seed)
    cfg = TrainConfig(seed=seed, lr=0.002)
    _, probs = fit_node_classifier(x, g.edge_index(), g.y, tr, va, cfg, offset=logit)
    return probs


def _gnn_bwgnn(g: GraphData, tr: np.ndarray, va: np.ndarray, seed: int) -> np.ndarray:
    # Pure BWGNN (no trees anywhere), BWGNN's own learning rate.
    return bwgnn_scores(g.x, g.edge_index(), g.y, tr, va, seed, settings=_PURE_BWGNN)


def _gnn_bwgnn_residual(g: GraphData, tr: np.ndarray, va: np.ndarray, seed: int) -> np.ndarray:
    logit = _oof_agg_logit(g, tr, seed)
    return bwgnn_scores(g.x, g.edge_index(), g.y, tr, va, seed, offset_logit=logit)


_PURE_BWGNN = BWGNNSettings(lr=0.01)


_METHODS: dict[str, Method] = {
    "xgb_features": _xgb_features,
    "xgb_neighbour_agg": _xgb_agg,
    "gnn_sepsage": _gnn,
    "gnn_boosted": _gnn_boosted,
    "gnn_residual": _gnn_residual,
    "gnn_bwgnn": _gnn_bwgnn,
    "gnn_bwgnn_residual": _gnn_bwgnn_residual,
}


def run_benchmark(
    graph: GraphData,
    seeds: Sequence[int],
    methods: Sequence[str] = METHODS,
    on_seed: Callable[[BenchmarkResult], object] | None = None,
) -> BenchmarkResult:
    """Run ``methods`` on ``graph`` for each seed with the standard protocol.

    ``on_seed`` is called with the partial result after each seed (to save progress).
    """
    unknown = set(methods) - set(_METHODS)
    if unknown:
        from fraudstream.errors import ConfigError

        raise ConfigError(f"unknown benchmark methods {sorted(unknown)}; known: {list(_METHODS)}")
    res = BenchmarkResult(
        dataset=graph.name,
        num_nodes=graph.num_nodes,
        num_edges=graph.num_edges,
        num_positive=int(graph.y.sum()),
        seeds=list(seeds),
        runs={m: [] for m in methods},
    )
    for seed in seeds:
        tr, va, te = stratified_split(graph.y, seed)
        for m in methods:
            t0 = time.perf_counter()
            p = _METHODS[m](graph, tr, va, seed)
            row = split_metrics(graph.y[va], p[va], graph.y[te], p[te])
            row["seconds"] = time.perf_counter() - t0
            res.runs[m].append(row)
            logger.info("seed %d %s: %s", seed, m, {k: round(v, 4) for k, v in row.items()})
        if on_seed is not None:
            on_seed(res)
    return res


def write_result(res: BenchmarkResult, out_dir: Path) -> tuple[Path, Path]:
    """Write ``<dataset>.json`` and ``<dataset>.md`` under ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    js, md = out_dir / f"{res.dataset}.json", out_dir / f"{res.dataset}.md"
    js.write_text(res.to_json())
    md.write_text(res.to_markdown())
    return js, md
