"""In-stream cost of the graph signal: the GNN stage per batch, memory, the pipeline.

Three measurements (``fraudstream gnn stage``):

1. the GNN stage alone: a :class:`~fraudstream.detect.gnn.live.LiveGraph` warmed
   with ``warm`` generated transactions, then ``batches`` batches of 256 through
   :class:`~fraudstream.detect.gnn.signal.GraphSignal` (graph update, 2-hop
   sample, one model pass, flags, reasons): p50/p99 per batch, wall and thread
   CPU time, plus a per-step breakdown on further batches;
2. memory of the live graph after ``memory_events`` transactions (tracemalloc:
   arrays and key index) and its node count;
3. with ``--pipeline``: ``fraudstream score`` (ensemble + graph signal, one
   worker pinned to one core, real broker) fed at a fixed rate: does it keep up,
   and its latency; then its maximum drain rate on pre-produced input.

The model is the served shape (:func:`train_live_model`: 32 hidden, 2 layers);
with ``--model-dir`` it is the trained one, otherwise untrained weights (the cost
of a pass does not depend on the weights).
"""

from __future__ import annotations

import logging
import os
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any

import numpy as np

logger = logging.getLogger(__name__)


def _records(n: int, seed: int, **population: int) -> list[dict[str, Any]]:
    from fraudstream.generate.transactions import TransactionGenerator
    from fraudstream.settings import GeneratorSettings

    gen = TransactionGenerator(GeneratorSettings(seed=seed, **population))
    return [r for b in gen.batches(count=n, batch_size=10_000) for r in b]


def _model(model_dir: Path | None) -> Any:
    import torch

    from fraudstream.detect.gnn.live import NODE_FEATURES
    from fraudstream.detect.gnn.live_model import load_live_model
    from fraudstream.detect.gnn.node_classifier import FraudNodeClassifier

    if model_dir is not None:
        return load_live_model(model_dir)
    torch.manual_seed(0)
    return FraudNodeClassifier(len(NODE_FEATURES), hidden_channels=32, num_layers=2).eval()


def _pct(values: list[float]) -> dict[str, float]:
    a = np.asarray(values) * 1000
    return {"p50": round(float(np.median(a)), 2), "p99": round(float(np.percentile(a, 99)), 2)}


def stage_latency(
    warm: int = 200_000,
    batches: int = 400,
    batch_size: int = 256,
    seed: int = 3,
    model_dir: Path | None = None,
    fanout: int | list[int] = 16,
    exact: bool = False,
) -> dict[str, Any]:
    """p50/p99 of the GNN stage per batch (ms, wall and thread CPU) on a warm graph.

    ``exact``: time the subgraph forward (the reference) instead of the served
    row forward with the encoder cache.
    """
    import torch

    from fraudstream.detect.gnn.live import LiveGraph
    from fraudstream.detect.gnn.signal import GraphSignal
    from fraudstream.events.batch import TransactionBatch

    check = 50  # batches scored by both paths (accuracy of the fast one)
    recs = _records(warm + (2 * batches + 5 + check) * batch_size, seed)
    graph = LiveGraph()
    graph.update(recs[:warm])
    sig = GraphSignal(_model(model_dir), graph, fanout=fanout, exact=exact)  # one torch thread
    stream = [
        TransactionBatch(recs[i : i + batch_size])
        for i in range(warm, len(recs) - batch_size + 1, batch_size)
    ]
    for b in stream[:5]:  # warm-up: the first torch calls set up their kernels
        sig(b)
    wall: list[float] = []
    cpu: list[float] = []
    for b in stream[5 : 5 + batches]:
        t, c = time.perf_counter(), time.thread_time()
        sig(b)
        cpu.append(time.thread_time() - c)
        wall.append(time.perf_counter() - t)
    steps: dict[str, list[float]] = {"update": [], "sample_model": [], "reasons": []}
    for b in stream[
        5 + batches : 5 + 2 * batches
    ]:  # the same calls GraphSignal makes, timed one by one
        c0 = time.thread_time()
        cards, linked = graph.ingest(b.records, b.col("event_time"))
        c1 = time.thread_time()
        scores = sig.score_slots(cards)
        graph.flag_slots(cards[scores >= sig.flag_threshold], graph.now_ms)
        c2 = time.thread_time()
        sig.batch_reasons(cards, linked, graph.now_ms)
        c3 = time.thread_time()
        for k, v in zip(steps, (c1 - c0, c2 - c1, c3 - c2), strict=True):
            steps[k].append(v)
    return {
        "fast_vs_exact": fast_vs_exact(sig, stream[5 + 2 * batches :]),
        "batch_size": batch_size,
        "batches": len(wall),
        "warm_events": warm,
        "fanout": fanout,
        "forward": "exact subgraph" if exact else "rows + encoder cache",
        "model": str(model_dir) if model_dir else "untrained, served shape (32 hidden, 2 layers)",
        "torch_threads": torch.get_num_threads(),
        "wall_ms": _pct(wall),
        "cpu_ms": _pct(cpu),
        "cpu_tx_per_s": round(batch_size / float(np.mean(cpu)), 1),
        "cpu_ms_steps": {k: _pct(v) for k, v in steps.items()},
        "graph_nodes": graph.num_nodes,
        "load_avg_1m": round(os.getloadavg()[0], 2),
    }


def fast_vs_exact(sig: Any, stream: list[Any]) -> dict[str, Any]:
    """Scores of the served row forward vs the exact subgraph forward, same batches.

    Also the model step's CPU time of each path on the same batches (paired).

    Each batch updates the graph once; both paths then score its cards on the
    same state. AUPRC is against the transactions' ``is_fraud`` (ground truth).
    """
    from sklearn.metrics import average_precision_score

    from fraudstream.detect.gnn.signal import GraphSignal

    if sig.model is None or not stream:
        return {}
    ref = GraphSignal(sig.model, sig.graph, hops=sig.hops, fanout=sig.fanout, exact=True)
    fast: list[np.ndarray] = []
    exact: list[np.ndarray] = []
    labels: list[np.ndarray] = []
    cpu: dict[bool, list[float]] = {False: [], True: []}  # model step CPU s, by exact
    for b in stream:
        cards, _ = sig.graph.ingest(b.records, b.col("event_time"))
        # Alternate which path goes first, so neither always meets warm caches.
        order = (sig, ref) if len(fast) % 2 == 0 else (ref, sig)
        for s in order:
            c = time.thread_time()
            scores = s.score_slots(cards)
            cpu[s is ref].append(time.thread_time() - c)
            (exact if s is ref else fast).append(scores)
        sig.graph.flag_slots(cards[fast[-1] >= sig.flag_threshold], sig.graph.now_ms)
        labels.append(np.asarray([bool(r.get("is_fraud")) for r in b.records]))
    f, e, y = np.concatenate(fast), np.concatenate(exact), np.concatenate(labels)
    rank = np.corrcoef(np.argsort(np.argsort(f)), np.argsort(np.argsort(e)))[0, 1]
    out: dict[str, Any] = {
        "transactions": int(f.size),
        "mean_abs_diff": float(np.abs(f - e).mean()),
        "max_abs_diff": float(np.abs(f - e).max()),
        "rank_corr": round(float(rank), 6),
        "model_cpu_ms_fast": _pct(cpu[False]),
        "model_cpu_ms_exact": _pct(cpu[True]),
    }
    if 0 < y.sum() < y.size:
        out["auprc_fast"] = round(float(average_precision_score(y, f)), 4)
        out["auprc_exact"] = round(float(average_precision_score(y, e)), 4)
        out["fraud"] = int(y.sum())
    return out


def memory_after(n_events: int = 1_000_000, seed: int = 3) -> dict[str, Any]:
    """Bytes held by a :class:`LiveGraph` after ``n_events`` generated transactions."""
    from fraudstream.detect.gnn.live import LiveGraph
    from fraudstream.generate.transactions import TransactionGenerator
    from fraudstream.settings import GeneratorSettings

    gen = TransactionGenerator(GeneratorSettings(seed=seed))
    tracemalloc.start()
    g = LiveGraph()
    for b in gen.batches(count=n_events, batch_size=10_000):
        g.update(b)
    # Records are released batch by batch, so what remains traced is the graph.
    cur, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return {
        "events": n_events,
        "nodes": g.num_nodes,
        "adjacency_entries": g.num_edges,
        "slots_allocated": int(g.x.shape[0]),
        "array_bytes": g.nbytes(),
        "traced_bytes": cur,
        "traced_mb": round(cur / 2**20, 1),
    }


def train_live(out: Path, events: int = 60_000, seed: int = 5) -> dict[str, Any]:
    """Train the live model on generated history and save it to ``out``."""
    from fraudstream.detect.gnn.live_model import save_live_model
    from fraudstream.detect.gnn.signal import train_live_model

    recs = _records(events, seed, n_customers=20_000, n_merchants=2_000)
    t0 = time.perf_counter()
    model, graph = train_live_model(recs, seed=seed)
    meta = {"events": events, "seed": seed, "nodes": graph.num_nodes}
    save_live_model(model, out, **meta)
    return {**meta, "train_s": round(time.perf_counter() - t0, 1), "out": str(out)}


def pipeline_with_graph(
    bootstrap: str,
    model_dir: Path,
    *,
    rate: int = 5000,
    seconds: float = 30.0,
    drain_records: int = 100_000,
    partitions: int = 6,
) -> dict[str, Any]:
    """``fraudstream score`` with the ensemble + graph signal on a real broker."""
    from fraudstream.bench import pipeline as bp

    env = {
        "FRAUDSTREAM_PIPELINE__DETECTOR": "ensemble",
        "FRAUDSTREAM_DETECTION__GRAPH": "on",
        "FRAUDSTREAM_DETECTION__GRAPH_MODEL_DIR": str(model_dir.resolve()),
        "OMP_NUM_THREADS": "1",
    }
    log_dir = Path(tempfile.mkdtemp(prefix="fraudstream-gnn-stage-"))
    out: dict[str, Any] = {"log_dir": str(log_dir), "env": env}
    # The pipeline bench starts its workers with the rule scorer (``_env``); the same
    # runs here, with the ensemble and the graph signal on instead.
    base_env = bp._env

    def graph_env(settings: Any, group: str) -> dict[str, str]:
        return {**base_env(settings, group), **env}

    bp._env = graph_env
    try:
        lat = bp.measure_latency(
            bootstrap, rate=rate, seconds=seconds, partitions=partitions, log_dir=log_dir
        )
        out["fixed_rate"] = lat
        # Behind, the backlog (and so the latency) would grow for the whole run.
        out["keeps_up"] = bool(lat["achieved_rate"] >= 0.98 * rate and lat["p99_ms"] < 1000)
        if drain_records:
            drain = bp.measure_throughput(
                bootstrap, records=drain_records, workers=1, partitions=partitions,
                log_dir=log_dir,
            )  # fmt: skip
            out["drain_per_s"] = round(drain, 1)
            out["drain_per_cpu_s"] = round(bp.cpu_rate([log_dir / "tput-1w-0.log"]), 1)
    finally:
        bp._env = base_env
    return out
